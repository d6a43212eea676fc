-- 0002_agent_states: the history of agents' states, written through from
-- memory (routing never reads it). One row per change: the agent entered
-- state at since, for reason.

create table agent_states (
    id       bigint generated always as identity primary key,
    agent_id text not null,
    state    text not null
        check (state in ('offline', 'available', 'ringing', 'on_call', 'wrap_up', 'away')),
    -- Why: the away reason, or what caused the change ("call ... ended").
    reason   text not null default '',
    since    timestamptz not null
);

create index agent_states_agent_since_idx on agent_states (agent_id, since desc, id desc);
