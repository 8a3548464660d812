-- Who moved each position: the actor of its lifecycle step, as its ledger event records it
-- (filled in here for the steps written before the column existed).
ALTER TABLE position_events ADD COLUMN actor TEXT;
DROP TRIGGER position_events_append_only_update;
UPDATE position_events SET actor = (
    SELECT json_extract(l.payload, '$.actor') FROM ledger_events AS l
    WHERE l.position_id = position_events.position_id
      AND l.kind = 'POSITION_STATE_CHANGED'
      AND json_extract(l.payload, '$.lifecycleEventId') = position_events.id
);
CREATE TRIGGER position_events_append_only_update BEFORE UPDATE ON position_events
BEGIN
    SELECT RAISE(ABORT, 'position_events is append-only: UPDATE refused');
END;
