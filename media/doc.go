// Package media brings remote images (event banners, images inside
// descriptions) through passerelle, so that pages, mails and calendars
// load nothing from the events' servers: a durable job fetches each image
// through the outbound client and the federation policy, checks it by its
// content (type by magic number, size and pixel count from its header,
// nothing decoded), and keeps it in the database, which every replica
// shares; /media/<hash> serves it with long-lived caching headers.
package media
