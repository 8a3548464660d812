-- Releases carry money. A position keeps what it has released to the beneficiary (`released`,
-- NULL where partial releases were recorded before releases carried amounts: not known) and
-- what it still holds (`held` = amount - released; the amount itself where `released` is not
-- known, so the column sorts and is never NULL). Amounts are fixed-width text, as `amount` is.
-- Each lifecycle step keeps the money it moved (released, or returned) and what the position
-- held after it; steps recorded before this are left as they are (NULL: not recorded).
ALTER TABLE positions ADD COLUMN released TEXT
    CHECK (released IS NULL OR (length(released) = 25 AND released <= amount));
ALTER TABLE positions ADD COLUMN held TEXT NOT NULL DEFAULT '0000000000000000.00000000'
    CHECK (length(held) = 25 AND held <= amount);
UPDATE positions SET
    released = CASE
        WHEN state = 'RELEASED' THEN amount
        WHEN EXISTS (SELECT 1 FROM position_events AS e
                     WHERE e.position_id = positions.id AND e.to_state = 'PARTIALLY_RELEASED') THEN NULL
        ELSE '0000000000000000.00000000' END,
    held = CASE WHEN state = 'RELEASED' THEN '0000000000000000.00000000' ELSE amount END;
CREATE INDEX positions_held ON positions (held, id);

ALTER TABLE position_events ADD COLUMN amount TEXT CHECK (amount IS NULL OR length(amount) = 25);
ALTER TABLE position_events ADD COLUMN held TEXT CHECK (held IS NULL OR length(held) = 25);
