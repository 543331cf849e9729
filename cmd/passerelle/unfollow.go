package main

import "fmt"

type unfollowCmd struct {
	Source string `arg:"" name:"SOURCE" help:"The source's handle, actor URL or slug."`
}

// Run queues an Undo{Follow}; the source's events stay stored, marked,
// and leave the calendars.
func (c unfollowCmd) Run(a *app) error {
	in, err := openInstance(a)
	if err != nil {
		return err
	}
	defer in.db.Close()
	src, err := in.federation.FindSource(a.ctx, c.Source)
	if err != nil {
		return usageError{err}
	}
	if err := in.federation.Unfollow(a.ctx, src); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "unfollowed %s: its events are kept but leave the calendars\n", src.Slug)
	return nil
}
