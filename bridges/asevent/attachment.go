package asevent

import (
	"encoding/json"
	"strings"
)

// Image is a picture attachment.
type Image struct {
	URL  string
	Name string
}

// Attachments is what an event's attachments and `image` say that the
// model holds.
type Attachments struct {
	// Banner is the event's picture, chosen as Mobilizon does on receipt:
	// the Document or Image attachment named "Banner", else `image`, else
	// the first Document or Image attachment.
	Banner Image
	// Website is the href of the Link attachment named "Website": the
	// online address of a Mobilizon event.
	Website string
	// FirstHTMLLink is the href of the first text/html (or untyped) Link.
	FirstHTMLLink string
	// Properties are the PropertyValue attachments (Mobilizon's event
	// metadata), propertyID → value as a string.
	Properties map[string]string
}

// ReadAttachments reads `attachment` and `image` from JSON: they mix
// ActivityStreams types with schema.org's PropertyValue and carry
// `name: null` and extra keys (blurhash, focalPoint) that go-fed would hand
// back as opaque values.
func ReadAttachments(o *Object) Attachments {
	var a Attachments
	var firstImage Image
	for _, m := range o.Objects("attachment") {
		switch {
		case isType(m, "Document") || isType(m, "Image"):
			img := imageOf(m)
			if img.URL == "" {
				continue
			}
			if firstImage.URL == "" {
				firstImage = img
			}
			if a.Banner.URL == "" && strings.EqualFold(img.Name, "Banner") {
				a.Banner = img
			}
		case isType(m, "Link"):
			href, _ := m["href"].(string)
			if href == "" || checkURL(href) != nil {
				continue
			}
			mt, _ := m["mediaType"].(string)
			name, _ := m["name"].(string)
			if a.Website == "" && name == "Website" {
				a.Website = href
			}
			if a.FirstHTMLLink == "" && (mt == "" || strings.HasPrefix(mt, "text/html")) {
				a.FirstHTMLLink = href
			}
		case isType(m, "PropertyValue"):
			id, _ := m["propertyID"].(string)
			if id == "" {
				continue
			}
			if a.Properties == nil {
				a.Properties = map[string]string{}
			}
			switch v := m["value"].(type) {
			case string:
				a.Properties[id] = v
			default:
				if s := describeValue(v); s != "" {
					a.Properties[id] = s
				}
			}
		}
	}
	if a.Banner.URL == "" {
		for _, m := range o.Objects("image") {
			if img := imageOf(m); img.URL != "" {
				a.Banner = img
				break
			}
		}
		if a.Banner.URL == "" {
			if s, ok := o.JSON["image"].(string); ok && checkURL(s) == nil {
				a.Banner.URL = s
			}
		}
	}
	if a.Banner.URL == "" {
		a.Banner = firstImage
	}
	return a
}

// imageOf reads a Document or Image: `url` is a string, a Link, or a list
// of either.
func imageOf(m map[string]any) Image {
	img := Image{}
	img.Name, _ = m["name"].(string)
	img.Name = strings.TrimSpace(img.Name)
	for _, u := range list(m["url"]) {
		switch u := u.(type) {
		case string:
			img.URL = u
		case map[string]any:
			img.URL, _ = u["href"].(string)
		}
		if img.URL != "" && checkURL(img.URL) == nil {
			return img
		}
		img.URL = ""
	}
	return img
}

func describeValue(v any) string {
	switch v := v.(type) {
	case bool:
		if v {
			return "true"
		}
		return "false"
	case json.Number:
		return v.String()
	default:
		return ""
	}
}
