-- The batching writer can send a whole batch as one statement (data-modifying CTEs, committed on
-- its own). That statement ends by calling this function, which aborts it, so that nothing of
-- the batch is stored, when the chain head is not the one the writer expected or a transition
-- found its position changed. The writer then applies the batch the careful way.
CREATE FUNCTION escrowgrid_batch_check(ok boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ok THEN
        RAISE EXCEPTION 'batch precondition failed: the chain head moved or a position changed'
            USING ERRCODE = 'EGB01';
    END IF;
    RETURN true;
END
$$;
