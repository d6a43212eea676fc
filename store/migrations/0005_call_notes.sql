-- 0005_call_notes: what agents write about a call — the wrap-up note after
-- it, the note a transferring agent hands to the next one — shown to whoever
-- talks to the customer next.
--
-- No foreign key to calls: the call log writes call records asynchronously,
-- and an agent may save a note before the call's row exists.

create table call_notes (
    id          bigint generated always as identity primary key,
    call_id     uuid not null,
    customer_id text null,
    -- The caller's number: the key of an unknown caller's history.
    number      text not null,
    agent_id    text not null,
    kind        text not null check (kind in ('wrap_up', 'transfer')),
    body        text not null check (char_length(body) between 1 and 4000),
    created_at  timestamptz not null
);

create index call_notes_call_idx on call_notes (call_id, created_at);
create index call_notes_customer_idx on call_notes (customer_id, created_at desc) where customer_id is not null;
create index call_notes_number_idx on call_notes (number, created_at desc);

-- An unknown caller's last calls are found by number.
create index calls_caller_created_idx on calls (caller_number, created_at desc);
