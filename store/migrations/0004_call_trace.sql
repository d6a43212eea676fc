-- 0004_call_trace: why each call went where it went — the routing decision
-- trace, one human-readable line per decision.

alter table calls add column trace text[] not null default '{}';
