//! Routing micro-benchmarks of the pure domain core (the target: "routing
//! decisions in the domain core: at least 1,000,000 per second on one core").
//!
//! The directory: 10,000 agents in 500 groups, each agent a member of 2
//! groups (40 members per group, every 4th membership secondary), chat and
//! ticket distribution auto, voice pull (so that `take` has a queue to pick
//! from); everyone logged in, available and active everywhere.
//!
//! Every benchmark sets `Throughput::Elements(1)`: criterion prints the
//! `thrpt` line in elements per second, which *is* the number of routing
//! decisions (or commands) per second. By hand: decisions/s = 1e9 / (time
//! per iteration in ns).
//!
//! Run (short):
//! `cargo bench --bench routing -- --warm-up-time 1 --measurement-time 2`
//! or `cargo bench --bench routing -- --quick`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard::domain::{
    Actor, AgentDef, AgentIx, CellChange, Channel, ChannelConfig, Command, Core, CoreConfig,
    Directory, Distribution, GroupDef, GroupIx, Handling, ItemId, MembershipSpec, Reply, Roles,
};

const AGENTS: u32 = 10_000;
const GROUPS: u32 = 500;

fn directory() -> Directory {
    let agents = (0..AGENTS)
        .map(|i| AgentDef {
            id: format!("agent{i}"),
            name: format!("Agent {i}"),
            roles: Roles {
                agent: true,
                manager: false,
                admin: false,
            },
            chat_cap: 3,
            manage_own_status: true,
            take_assigned: false,
        })
        .collect();
    let auto = ChannelConfig {
        enabled: true,
        distribution: Distribution::Auto,
        wrap_up_ms: 0,
        blocked_by: [0; 3],
    };
    let pull = ChannelConfig {
        enabled: true,
        distribution: Distribution::Pull,
        wrap_up_ms: 0,
        blocked_by: [0; 3],
    };
    let groups = (0..GROUPS)
        .map(|g| GroupDef {
            id: format!("group{g}"),
            name: format!("Group {g}"),
            department: format!("dept{}", g % 10),
            channels: [auto, auto, pull],
        })
        .collect();
    // Agent i is in groups i % 500 and (i % 500 + 1 + (i / 500) % 499) % 500
    // (never the same): 20 + 20 = 40 members in each group.
    let mut members = Vec::with_capacity(2 * AGENTS as usize);
    for i in 0..AGENTS {
        for (k, g) in [
            i % GROUPS,
            (i % GROUPS + 1 + (i / GROUPS) % (GROUPS - 1)) % GROUPS,
        ]
        .into_iter()
        .enumerate()
        {
            let h = if (i + k as u32) % 4 == 3 {
                Handling::Secondary
            } else {
                Handling::Primary
            };
            members.push(MembershipSpec {
                agent: format!("agent{i}"),
                group: format!("group{g}"),
                handling: [h, h, h],
                ticket_cap: Some(5),
                initially_active: [true; 3],
            });
        }
    }
    Directory::new(agents, groups, members).expect("valid bench directory")
}

fn core() -> Core {
    let mut core = Core::new(directory(), CoreConfig::default());
    for i in 0..AGENTS {
        core.apply(
            0,
            Command::OpenSession {
                agent: AgentIx(i),
                session: u64::from(i),
            },
        )
        .expect("login");
    }
    core.drain_events().for_each(drop);
    core
}

fn create(core: &mut Core, now: u64, group: GroupIx, channel: Channel) -> ItemId {
    match core.apply(
        now,
        Command::CreateWork {
            group,
            channel,
            priority: 0,
            title: String::new(),
        },
    ) {
        Ok(Reply::Item(id)) => id,
        other => panic!("create: {other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let mut core = core();
    let mut g = c.benchmark_group("routing");
    g.throughput(Throughput::Elements(1));

    // One routing decision: the chosen member of a group for a channel.
    for channel in [Channel::Chat, Channel::Ticket] {
        let mut n = 0u32;
        g.bench_function(format!("choose_{}", channel.as_str()), |b| {
            b.iter(|| {
                n = (n + 1) % GROUPS;
                black_box(core.choose(black_box(GroupIx(n)), channel))
            })
        });
    }

    // A new item routed at once, then closed (the close frees capacity and
    // triggers a drain check): one decision plus bookkeeping and events.
    for channel in [Channel::Chat, Channel::Ticket] {
        let mut n = 0u32;
        let mut now = 1_000u64;
        g.bench_function(format!("create_close_{}", channel.as_str()), |b| {
            b.iter(|| {
                n = (n + 1) % GROUPS;
                now += 1;
                let id = create(&mut core, now, GroupIx(n), channel);
                core.apply(
                    now,
                    Command::Close {
                        actor: Actor::System,
                        item: id,
                    },
                )
                .expect("close");
                core.drain_events().for_each(drop);
            })
        });
    }

    // Take: a queued call (voice is pull) cherry-picked by a member. Only the
    // take is timed; creating and closing the item are not.
    {
        let mut now = 10_000_000u64;
        g.bench_function("take_call", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for k in 0..iters {
                    let group = GroupIx((k % u64::from(GROUPS)) as u32);
                    now += 1;
                    let id = create(&mut core, now, group, Channel::Voice);
                    let actor = AgentIx(group.0); // agent g is a member of group g
                    let start = Instant::now();
                    let r = core.apply(now, Command::Take { actor, item: id });
                    total += start.elapsed();
                    black_box(r).expect("take");
                    core.apply(
                        now,
                        Command::Close {
                            actor: Actor::System,
                            item: id,
                        },
                    )
                    .expect("close");
                    core.drain_events().for_each(drop);
                }
                total
            })
        });
    }

    // Availability toggled (going available checks its chat queues).
    {
        // Pass 0 over all agents switches them off, pass 1 on, and so on:
        // every command is a real change.
        let mut k = 0u32;
        g.bench_function("set_availability", |b| {
            b.iter(|| {
                k = k.wrapping_add(1);
                let available = (k / AGENTS) % 2 == 1;
                core.apply(
                    1,
                    Command::SetAvailability {
                        agent: AgentIx(k % AGENTS),
                        available,
                    },
                )
                .expect("availability");
                core.drain_events().for_each(drop);
            })
        });
        // Leave everyone available again.
        for i in 0..AGENTS {
            core.apply(
                1,
                Command::SetAvailability {
                    agent: AgentIx(i),
                    available: true,
                },
            )
            .expect("availability");
        }
        core.drain_events().for_each(drop);
    }

    // One active cell toggled by the agent itself (turning on checks the queue).
    {
        let mut k = 0u32;
        g.bench_function("set_active_cell", |b| {
            b.iter(|| {
                k = k.wrapping_add(1);
                let n = k % AGENTS;
                let on = (k / AGENTS) % 2 == 1;
                let agent = AgentIx(n);
                core.apply(
                    1,
                    Command::SetActive {
                        actor: agent,
                        agent,
                        change: CellChange::Cells(vec![(GroupIx(n % GROUPS), Channel::Chat, on)]),
                    },
                )
                .expect("set active");
                core.drain_events().for_each(drop);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
