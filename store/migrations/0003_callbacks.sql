-- 0003_callbacks: callback slots with a capacity, the callbacks booked into
-- them, and every attempt to dial one. The dialer's jobs live in River's own
-- tables (river_job and friends), migrated by callback.Migrate.

-- One row per team and slot that somebody has tried to book. Rows are created
-- on first booking; a slot without a row has nothing booked. The capacity is
-- the team's configured capacity at the last booking (informational: the
-- booking query compares booked with the configured capacity).
create table callback_slots (
    team_id   text not null,
    starts_at timestamptz not null,
    ends_at   timestamptz not null,
    capacity  int not null check (capacity >= 0),
    -- Places taken by callbacks that are not cancelled.
    booked    int not null default 0 check (booked >= 0),
    primary key (team_id, starts_at),
    check (ends_at > starts_at)
);

create table callbacks (
    id           uuid primary key,
    team_id      text not null,
    customer_id  text null,
    -- The customer's number in E.164.
    number       text not null,
    reason       text null,
    state        text not null default 'booked'
        check (state in ('booked', 'dialing', 'completed', 'failed', 'cancelled')),
    slot_start   timestamptz not null,
    slot_end     timestamptz not null,
    -- When the customer first asked to be called back; a reschedule keeps it.
    -- Within a slot, callbacks are dialed in this order.
    requested_at timestamptz not null,
    -- When the next attempt may start: the slot's start, or a retry's time.
    due_at       timestamptz not null,
    -- The River job (river_job.id) inserted for the current due time. A dial
    -- job claims the oldest due callback of its team, normally this one.
    job_id       bigint null,
    created_at   timestamptz not null,
    updated_at   timestamptz not null,
    foreign key (team_id, slot_start) references callback_slots (team_id, starts_at)
);

-- At most one open callback per number: a second request finds the first.
create unique index callbacks_open_number_idx on callbacks (number)
    where state in ('booked', 'dialing');
-- Listing, and the dialing order within a team.
create index callbacks_team_slot_idx on callbacks (team_id, slot_start, requested_at, id);
create index callbacks_booked_idx on callbacks (team_id, slot_start, requested_at, id)
    where state = 'booked';
create index callbacks_state_idx on callbacks (state, slot_start);

create table callback_attempts (
    id          bigint generated always as identity primary key,
    callback_id uuid not null references callbacks (id) on delete cascade,
    -- The River job that claimed the callback for this attempt.
    job_id      bigint not null,
    started_at  timestamptz not null,
    -- NULL while the attempt is in progress (or its process died: see
    -- 'interrupted').
    ended_at    timestamptz null,
    agent_id    text null,
    -- The final SIP status of the customer leg (or the agent leg when no
    -- customer leg was placed); NULL if none.
    sip_status  int null,
    outcome     text null
        check (outcome in ('answered', 'busy', 'no_answer', 'failed', 'no_agent', 'interrupted')),
    -- Whether the attempt spends one of the callback's attempts ('no_agent'
    -- does not).
    counted     boolean not null default true,
    detail      text null
);

create index callback_attempts_callback_idx on callback_attempts (callback_id, id);
create index callback_attempts_open_idx on callback_attempts (job_id) where ended_at is null;
