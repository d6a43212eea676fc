-- 0006_call_transfers: an agent handing a call to a colleague or to the
-- national pool. One row per transfer of a call; the call keeps its record
-- (calls.id), so the customer's one call links every agent who talked to
-- them: calls.agent_id answered first, each completed transfer names the next.

create table call_transfers (
    id           bigint generated always as identity primary key,
    call_id      uuid not null,
    -- The agent who transferred (sent REFER or pressed the console button).
    from_agent   text not null,
    -- Who was asked for: an agent's username or id, a team, or the pool.
    target       text not null,
    kind         text not null check (kind in ('blind', 'attended')),
    -- The agent who took the call; NULL when nobody did.
    to_agent     text null,
    outcome      text not null check (outcome in ('completed', 'failed')),
    detail       text null,
    requested_at timestamptz not null,
    ended_at     timestamptz not null
);

create index call_transfers_call_idx on call_transfers (call_id, id);
