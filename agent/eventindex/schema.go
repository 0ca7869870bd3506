package eventindex

// migrations is the index's schema, forward-only: append new versions, never edit old
// ones.
//
// entries holds one row per journal entry: seq is the rowid; type is "" for an entry
// that could not be parsed; at is occurredAt in atLayout (NULL when unparsed), so that
// text order is time order; crn, noms and subject are NULL when absent, so that their
// partial indexes hold only rows that have them; data is the event's info JSON and summary its one-line description; alarm
// is NULL for an entry that is not an alarm, 1 for an open alarm and 0 for an
// acknowledged one. acks holds the first acknowledgement of each entry acknowledged,
// by the entry's seq. state is the one-row record of progress: the last seq indexed,
// the SHA-256 of its envelope (to notice a replaced journal), the count of unparsed
// entries, and the alarm types the alarm column was marked for.
var migrations = []string{`
CREATE TABLE entries (
	seq     INTEGER PRIMARY KEY CHECK (seq >= 1),
	id      TEXT NOT NULL,
	type    TEXT NOT NULL,
	at      TEXT,
	crn     TEXT,
	noms    TEXT,
	subject TEXT,
	data    TEXT,
	alarm   INTEGER,
	summary TEXT
);
CREATE INDEX entries_type ON entries (type);
CREATE INDEX entries_at ON entries (at);
CREATE INDEX entries_crn ON entries (crn) WHERE crn IS NOT NULL;
CREATE INDEX entries_noms ON entries (noms) WHERE noms IS NOT NULL;
CREATE INDEX entries_alarms ON entries (seq) WHERE alarm IS NOT NULL;
CREATE INDEX entries_open ON entries (seq) WHERE alarm = 1;
CREATE TABLE acks (
	alarm INTEGER PRIMARY KEY,
	seq   INTEGER NOT NULL,
	by    TEXT NOT NULL,
	at    TEXT NOT NULL,
	note  TEXT NOT NULL
);
CREATE TABLE state (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	indexed    INTEGER NOT NULL,
	tail       BLOB NOT NULL,
	unparsed   INTEGER NOT NULL,
	alarmtypes TEXT NOT NULL
);
INSERT INTO state (id, indexed, tail, unparsed, alarmtypes) VALUES (1, 0, x'', 0, '');`,
}
