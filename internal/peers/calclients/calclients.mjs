// Drives passerelle's calendars with Node's real clients and prints JSON
// for the Go tests (caldav/clients_test.go) to check:
//   node calclients.mjs discover BASE_URL   tsdav discovery, calendars, objects;
//                                           ical.js instants of every object
//   node calclients.mjs sync CAL_URL TOKEN  tsdav syncCollection from TOKEN
//   node calclients.mjs parse FILE          ical.js instants of an .ics file
//   node calclients.mjs calendar FILE       the same with the calendar's name and descriptions
import { readFileSync } from 'node:fs';
import { createDAVClient, syncCollection } from 'tsdav';
import ICAL from 'ical.js';

// instants parses iCalendar text with ical.js (Thunderbird's parser),
// registering its VTIMEZONEs, and returns each VEVENT's UID with its start
// and end as UTC instants: wrong VTIMEZONE data shows up here.
function instants(text) {
  const comp = new ICAL.Component(ICAL.parse(text));
  for (const tz of comp.getAllSubcomponents('vtimezone')) {
    ICAL.TimezoneService.register(new ICAL.Timezone(tz));
  }
  return comp.getAllSubcomponents('vevent').map((v) => {
    const ev = new ICAL.Event(v);
    return {
      uid: ev.uid,
      summary: ev.summary,
      start: ev.startDate.toJSDate().toISOString(),
      end: ev.endDate ? ev.endDate.toJSDate().toISOString() : '',
      tzid: ev.startDate.timezone || '',
      organizerCN: v.getFirstProperty('organizer')?.getParameter('cn') || '',
      description: ev.description || '',
    };
  });
}

// calendar parses iCalendar text with ical.js and returns the calendar's
// own name and descriptions (X-WR-CALDESC and RFC 7986 DESCRIPTION) as a
// calendar app shows them, with its events.
function calendar(text) {
  const comp = new ICAL.Component(ICAL.parse(text));
  return {
    name: comp.getFirstPropertyValue('x-wr-calname') || '',
    xwrCalDesc: comp.getFirstPropertyValue('x-wr-caldesc') || '',
    description: comp.getFirstPropertyValue('description') || '',
    events: instants(text),
  };
}

const [cmd, arg1, arg2] = process.argv.slice(2);
const credentials = { username: 'anyone', password: 'anything' };

if (cmd === 'discover') {
  const client = await createDAVClient({ serverUrl: arg1, credentials, authMethod: 'Basic', defaultAccountType: 'caldav' });
  const calendars = await client.fetchCalendars();
  const out = { calendars: [] };
  for (const cal of calendars) {
    const objects = await client.fetchCalendarObjects({ calendar: cal });
    out.calendars.push({
      url: cal.url,
      displayName: cal.displayName,
      ctag: cal.ctag,
      syncToken: cal.syncToken,
      components: cal.components,
      objects: objects.map((o) => ({ url: o.url, etag: o.etag, events: instants(o.data) })),
    });
  }
  console.log(JSON.stringify(out));
} else if (cmd === 'sync') {
  const res = await syncCollection({
    url: arg1,
    props: { 'd:getetag': {} },
    syncLevel: 1,
    syncToken: arg2,
    headers: { authorization: 'Basic ' + Buffer.from('anyone:anything').toString('base64') },
  });
  console.log(JSON.stringify(res.map((r) => ({ href: r.href, status: r.status, etag: r.props?.getetag || '' }))));
} else if (cmd === 'parse') {
  console.log(JSON.stringify(instants(readFileSync(arg1, 'utf8'))));
} else if (cmd === 'calendar') {
  console.log(JSON.stringify(calendar(readFileSync(arg1, 'utf8'))));
} else {
  console.error('usage: calclients.mjs discover URL | sync CAL_URL TOKEN | parse FILE | calendar FILE');
  process.exit(2);
}
