-- Credits move from one database reservation per request to per-instance leases
-- (notes/CREDITS.md): an instance leases a slice of an org's balance, serves holds from it in
-- memory, and writes debits in batches together with the request log rows.

ALTER TABLE orgs ADD COLUMN leased_nanos BIGINT NOT NULL DEFAULT 0;
-- Holds no longer live in the database; the old reservations are gone with them.
ALTER TABLE orgs DROP COLUMN held_nanos;
DROP TABLE reservations;

CREATE TABLE credit_leases (
    org_id         TEXT NOT NULL REFERENCES orgs (id),
    instance_id    TEXT NOT NULL,
    amount_nanos   BIGINT NOT NULL,
    -- What the instance held out of the lease at its last renewal (for the audit).
    held_nanos     BIGINT NOT NULL DEFAULT 0,
    holds          BIGINT NOT NULL DEFAULT 0,
    oldest_hold_at BIGINT,
    created_at     BIGINT NOT NULL,
    renewed_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    PRIMARY KEY (org_id, instance_id)
);
CREATE INDEX credit_leases_expiry ON credit_leases (expires_at);
CREATE INDEX credit_leases_instance ON credit_leases (instance_id);

-- One debit per request: the request id makes a replayed debit impossible to apply twice.
ALTER TABLE ledger_entries ADD COLUMN request_id TEXT;
CREATE UNIQUE INDEX ledger_entries_request ON ledger_entries (request_id);
CREATE INDEX ledger_entries_org_page ON ledger_entries (org_id, created_at, id);
