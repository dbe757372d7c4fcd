//! Eligibility: who may be given work of a channel in a group, and if not,
//! the first rule that keeps them out.
//!
//! This is the only copy of the rules: routing, the drain and the routing
//! explanations all call [`Core::kept_out`].

use super::core::Core;
use super::directory::{Channel, Distribution, Handling, MemberIx};

/// The first rule that keeps a member from being given an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptOut {
    /// No open session and the grace has run out.
    LoggedOut,
    /// The channel is disabled in the group (N/A).
    ChannelDisabled,
    /// The member is excluded from this channel (N/A).
    Excluded,
    /// The member only picks from the queue, or the group's channel is pull.
    PullOnly,
    /// The member's cell for this channel is off.
    Inactive,
    /// Let too many offers run out in a row; back when it acts.
    NotResponding,
    /// In wrap-up after closing an item of this channel.
    WrappingUp,
    /// Unavailable (chats only).
    Unavailable,
    /// At its chat cap, or its ticket cap in this group.
    AtCapacity,
    /// Already on a call (calls only).
    OnCall,
    /// Holds enough work of another channel to keep this one away (the
    /// group's cross-channel capacity).
    BusyWith(Channel),
    /// Declined this item, or let it go unanswered (per item).
    Declined,
}

impl KeptOut {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeptOut::LoggedOut => "logged_out",
            KeptOut::ChannelDisabled => "channel_disabled",
            KeptOut::Excluded => "excluded",
            KeptOut::PullOnly => "pull_only",
            KeptOut::Inactive => "inactive",
            KeptOut::NotResponding => "not_responding",
            KeptOut::WrappingUp => "wrapping_up",
            KeptOut::Unavailable => "unavailable",
            KeptOut::AtCapacity => "at_capacity",
            KeptOut::OnCall => "on_call",
            KeptOut::BusyWith(Channel::Chat) => "busy_with_chats",
            KeptOut::BusyWith(Channel::Ticket) => "busy_with_tickets",
            KeptOut::BusyWith(Channel::Voice) => "busy_with_calls",
            KeptOut::Declined => "declined",
        }
    }
}

impl Core {
    /// Checks every eligibility rule for one member and one
    /// channel of its group, in a fixed order, and names the first that fails.
    pub fn kept_out(&self, m: MemberIx, channel: Channel) -> Option<KeptOut> {
        let dir = self.directory();
        let ms = dir.membership(m);
        let cfg = dir.group(ms.group).channels[channel.index()];
        let agent = self.presence(ms.agent);
        let c = channel.index();
        if !agent.logged_in {
            return Some(KeptOut::LoggedOut);
        }
        if !cfg.enabled {
            return Some(KeptOut::ChannelDisabled);
        }
        match ms.handling[c] {
            Handling::Excluded => return Some(KeptOut::Excluded),
            Handling::Pull => return Some(KeptOut::PullOnly),
            Handling::Primary | Handling::Secondary => {}
        }
        if cfg.distribution == Distribution::Pull {
            return Some(KeptOut::PullOnly);
        }
        if !self.is_active(m, channel) {
            return Some(KeptOut::Inactive);
        }
        if agent.not_responding {
            return Some(KeptOut::NotResponding);
        }
        if agent.wrap_up_until[c] != 0 {
            return Some(KeptOut::WrappingUp);
        }
        match channel {
            Channel::Chat => {
                if !agent.available {
                    return Some(KeptOut::Unavailable);
                }
                if agent.load[c] >= dir.agent(ms.agent).chat_cap {
                    return Some(KeptOut::AtCapacity);
                }
            }
            Channel::Ticket => {
                if let Some(cap) = ms.ticket_cap
                    && self.tickets_held(m) >= cap
                {
                    return Some(KeptOut::AtCapacity);
                }
            }
            Channel::Voice => {
                if agent.load[c] > 0 {
                    return Some(KeptOut::OnCall);
                }
            }
        }
        self.busy_with(m, channel).map(KeptOut::BusyWith)
    }

    /// The other channel whose held work keeps this channel's new work
    /// from the member (cross-channel capacity of its group), if any.
    pub fn busy_with(&self, m: MemberIx, channel: Channel) -> Option<Channel> {
        let dir = self.directory();
        let ms = dir.membership(m);
        let cfg = dir.group(ms.group).channels[channel.index()];
        let load = self.presence(ms.agent).load;
        Channel::ALL.into_iter().find(|&other| {
            let limit = cfg.blocked_by[other.index()];
            other != channel && limit > 0 && load[other.index()] >= limit
        })
    }

    /// Whether the member may be given this channel's work now.
    pub fn is_eligible(&self, m: MemberIx, channel: Channel) -> bool {
        self.kept_out(m, channel).is_none()
    }
}
