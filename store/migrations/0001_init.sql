-- 0001_init: the call record (one row per inbound call).

create table calls (
    id            uuid primary key,
    sip_call_id   text not null,
    -- E.164 when the caller ID could be parsed, else the raw value.
    caller_number text not null,
    customer_id   text null,
    team_id       text null,
    -- The agent who answered.
    agent_id      text null,
    trunk         text null,
    created_at    timestamptz not null,
    answered_at   timestamptz null,
    ended_at      timestamptz null,
    outcome       text null
        check (outcome in ('answered', 'abandoned', 'unanswered', 'rejected')),
    hangup_by     text null
        check (hangup_by in ('caller', 'agent', 'system')),
    end_reason    text null
);

create index calls_customer_created_idx on calls (customer_id, created_at desc);
create index calls_sip_call_id_idx on calls (sip_call_id);
