-- An event's last change-log sequence was stamped on its row, one more
-- statement for every change, and nothing read it.
ALTER TABLE events DROP COLUMN change_seq;
