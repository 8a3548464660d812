-- Releases carry money. A position keeps what it has released to the beneficiary (`released`,
-- NULL where partial releases were recorded before releases carried amounts: not known) and
-- what it still holds (`held` = amount - released; the amount itself where `released` is not
-- known, so the column sorts and is never NULL). Each lifecycle step keeps the money it moved
-- (released, or returned) and what the position held after it; steps recorded before this are
-- left as they are (NULL: not recorded) — nothing is rewritten. Not marked compatible: an older
-- escrowgrid would move positions without keeping their balance.
ALTER TABLE positions ADD COLUMN released NUMERIC(32, 8);
ALTER TABLE positions ADD COLUMN held NUMERIC(32, 8);
UPDATE positions AS p SET
    released = CASE
        WHEN p.state = 'RELEASED' THEN p.amount
        WHEN EXISTS (SELECT 1 FROM position_events AS e
                     WHERE e.position_id = p.id AND e.to_state = 'PARTIALLY_RELEASED') THEN NULL
        ELSE 0 END,
    held = CASE WHEN p.state = 'RELEASED' THEN 0 ELSE p.amount END;
ALTER TABLE positions ALTER COLUMN held SET NOT NULL;
ALTER TABLE positions ADD CONSTRAINT positions_released_within_amount
    CHECK (released IS NULL OR (released >= 0 AND released <= amount AND held = amount - released));
ALTER TABLE positions ADD CONSTRAINT positions_held_unknown_is_amount
    CHECK (released IS NOT NULL OR held = amount);

ALTER TABLE position_events ADD COLUMN amount NUMERIC(32, 8) CHECK (amount >= 0);
ALTER TABLE position_events ADD COLUMN held NUMERIC(32, 8) CHECK (held >= 0);
