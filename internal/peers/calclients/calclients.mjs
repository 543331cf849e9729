// Drives passerelle's calendars with Node's real clients and prints JSON
// for the Go tests (caldav/clients_test.go) to check:
//   node calclients.mjs discover BASE_URL   tsdav discovery, calendars, objects;
//                                           ical.js instants of every object
//   node calclients.mjs answer BASE_URL UID PARTSTAT
//                                           signed in (CALDAV_USER, CALDAV_PASSWORD):
//                                           the attendee's PARTSTAT of that event
//                                           changed and saved (updateCalendarObject),
//                                           then the PARTSTAT read back
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

const [cmd, arg1, arg2, arg3] = process.argv.slice(2);
// The public calendars need no credentials; a calendar account's come
// from the environment.
const credentials = { username: process.env.CALDAV_USER || '', password: process.env.CALDAV_PASSWORD || '' };
const auth = credentials.username
  ? { credentials, authMethod: 'Basic' }
  : { credentials, authMethod: 'Custom', authFunction: async () => ({}) };
const authHeaders = credentials.username
  ? { authorization: 'Basic ' + Buffer.from(credentials.username + ':' + credentials.password).toString('base64') }
  : {};

// partstat reads the attendee's PARTSTAT of an event with ical.js.
function partstat(text) {
  const v = new ICAL.Component(ICAL.parse(text)).getFirstSubcomponent('vevent');
  return v.getFirstProperty('attendee')?.getParameter('partstat') || '';
}

if (cmd === 'answer') {
  // As a calendar app does when its Accept, Maybe or Decline is pressed:
  // the attendee's PARTSTAT changed in the copy, which is saved back with
  // the ETag it was read with.
  const client = await createDAVClient({ serverUrl: arg1, ...auth, defaultAccountType: 'caldav' });
  const calendars = await client.fetchCalendars();
  let found;
  for (const cal of calendars) {
    for (const o of await client.fetchCalendarObjects({ calendar: cal })) {
      if (instants(o.data).some((e) => e.uid === arg2)) found = { cal, o };
    }
  }
  if (!found) throw new Error(`no event ${arg2} in ${calendars.map((c) => c.url).join(', ')}`);
  const comp = new ICAL.Component(ICAL.parse(found.o.data));
  comp.getFirstSubcomponent('vevent').getFirstProperty('attendee').setParameter('partstat', arg3);
  const res = await client.updateCalendarObject({ calendarObject: { url: found.o.url, data: comp.toString(), etag: found.o.etag } });
  const after = (await client.fetchCalendarObjects({ calendar: found.cal, objectUrls: [found.o.url] }))[0];
  console.log(JSON.stringify({ status: res.status, url: found.o.url, calendar: found.cal.url, partstat: partstat(after.data) }));
} else if (cmd === 'discover') {
  const client = await createDAVClient({ serverUrl: arg1, ...auth, defaultAccountType: 'caldav' });
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
    headers: authHeaders,
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
