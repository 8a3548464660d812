-- Who moved each position: the actor of its lifecycle step, as its ledger event records it
-- (filled in here for the steps written before the column existed).
ALTER TABLE position_events ADD COLUMN actor TEXT COLLATE "C";
ALTER TABLE position_events DISABLE TRIGGER position_events_append_only;
UPDATE position_events AS e SET actor = l.payload::jsonb ->> 'actor'
FROM ledger_events AS l
WHERE l.position_id = e.position_id
  AND l.kind = 'POSITION_STATE_CHANGED'
  AND l.payload::jsonb ->> 'lifecycleEventId' = e.id;
ALTER TABLE position_events ENABLE TRIGGER position_events_append_only;
