-- Most requests carry no user id, client request id or session: their indexes hold only the
-- rows that have one, so a log row without them costs three index inserts fewer. Every query
-- that uses them filters on `col = value` (or `col IS NOT NULL`), which implies the index's
-- condition, so the planner still picks them.
DROP INDEX request_logs_org_user_time;
CREATE INDEX request_logs_org_user_time ON request_logs (org_id, user_id, created_at)
    WHERE user_id IS NOT NULL;
DROP INDEX request_logs_org_client_id;
CREATE INDEX request_logs_org_client_id ON request_logs (org_id, client_request_id)
    WHERE client_request_id IS NOT NULL;
DROP INDEX request_logs_org_session;
CREATE INDEX request_logs_org_session ON request_logs (org_id, session_id, created_at)
    WHERE session_id IS NOT NULL;
