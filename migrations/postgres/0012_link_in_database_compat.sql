-- The ledger and audit chains linked by the database, inside a batch's own statement: a writer
-- sends each ledger event's canonical bytes up to its `prevHash` (the prefix) and each audit
-- record's digest, and the statement links them onto whatever head it finds, so writers in
-- several processes never wait for one another's head to come back to them. Functions only:
-- an older escrowgrid does not call them (marked compatible).

-- The hash of a stored ledger event, from its stored fields: the SHA-256 of its canonical JSON
-- (RFC 8785: names in order, strings as to_json writes them, which is RFC 8785's escaping; the
-- payload is stored canonical). What `escrowgrid verify` computes, in SQL.
CREATE FUNCTION escrowgrid_event_hash(e ledger_events) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(
        '{"at":' || to_json(to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::text
        || ',"entityId":' || to_json(e.entity_id)::text
        || ',"entityType":' || to_json(e.entity_type)::text
        || ',"id":' || to_json(e.id)::text
        || ',"institutionId":' || to_json(e.institution_id)::text
        || ',"kind":' || to_json(e.kind)::text
        || ',"payload":' || e.payload
        || ',"positionId":' || coalesce(to_json(e.position_id)::text, 'null')
        || ',"prevHash":' || to_json(e.prev_hash)::text
        || ',"seq":' || e.seq::text || '}', 'UTF8')), 'hex')
$$;

-- Links a batch onto the chains' heads: takes the head row (held until the batch commits, which
-- orders appends across every process), checks that the newest ledger event hashes to the head
-- and the newest audit record is the audit head, then gives each ledger event (by its prefix)
-- and each audit record (by its digest) the next seq, the previous hash and its hash, moves the
-- head and notifies `channel` of the new ledger head. `ready` only orders the call after the
-- batch's other rows (its argument is computed from them).
CREATE FUNCTION escrowgrid_link(prefixes text[], digests text[], ready bigint, channel text)
RETURNS TABLE (link_chain text, link_ord int, link_seq bigint, link_prev text, link_hash text)
LANGUAGE plpgsql AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    head_audit_seq bigint;
    head_audit_hash text;
    stored text;
    recomputed text;
    s bigint;
    p text;
    h text;
BEGIN
    SELECT lh.seq, lh.hash, lh.audit_seq, lh.audit_hash
      INTO head_seq, head_hash, head_audit_seq, head_audit_hash
      FROM ledger_head lh WHERE lh.id FOR UPDATE;
    IF head_seq > 0 THEN
        SELECT e.hash, escrowgrid_event_hash(e) INTO stored, recomputed
          FROM ledger_events e WHERE e.seq = head_seq;
        IF stored IS DISTINCT FROM head_hash OR recomputed IS DISTINCT FROM head_hash THEN
            RAISE EXCEPTION 'the ledger head (seq %) does not verify', head_seq
                USING ERRCODE = 'EGB02';
        END IF;
    END IF;
    IF head_audit_seq > 0 THEN
        SELECT a.hash INTO stored FROM audit_events a WHERE a.seq = head_audit_seq;
        IF stored IS DISTINCT FROM head_audit_hash THEN
            RAISE EXCEPTION 'the audit head (seq %) is not the newest audit record', head_audit_seq
                USING ERRCODE = 'EGB02';
        END IF;
    END IF;

    s := head_seq;
    p := head_hash;
    FOR i IN 1 .. coalesce(array_length(prefixes, 1), 0) LOOP
        h := encode(sha256(convert_to(
            prefixes[i] || '"' || p || '","seq":' || (s + 1)::text || '}', 'UTF8')), 'hex');
        link_chain := 'L'; link_ord := i; link_seq := s + 1; link_prev := p; link_hash := h;
        RETURN NEXT;
        s := s + 1;
        p := h;
    END LOOP;
    IF s > head_seq THEN
        PERFORM pg_notify(channel, s::text);
    END IF;
    head_seq := s;
    head_hash := p;

    s := head_audit_seq;
    p := head_audit_hash;
    FOR i IN 1 .. coalesce(array_length(digests, 1), 0) LOOP
        h := encode(sha256(convert_to(
            '{"digest":"' || digests[i] || '","prevHash":"' || p || '","seq":' || (s + 1)::text
            || '}', 'UTF8')), 'hex');
        link_chain := 'A'; link_ord := i; link_seq := s + 1; link_prev := p; link_hash := h;
        RETURN NEXT;
        s := s + 1;
        p := h;
    END LOOP;

    UPDATE ledger_head SET seq = head_seq, hash = head_hash, audit_seq = s, audit_hash = p
     WHERE id;
    RETURN;
END
$$;
