//! Routing strategies: which eligible member gets the next item.
//!
//! - Chats: among eligible primaries (secondaries only when no primary is
//!   eligible), the fewest chats held, then the longest since its last chat.
//! - Tickets: rotation "one after the other": the member whose last ticket in
//!   this group is the oldest, primaries before secondaries.
//! - Calls: the longest idle (since its last call) first.
//!
//! Ties fall to directory order, so routing is deterministic.

use super::core::Core;
use super::directory::{AgentIx, Channel, GroupIx, Handling, MemberIx};
use super::time::Millis;

impl Core {
    /// The member routing would give the next `channel` item of `group` to,
    /// or `None` when nobody is eligible.
    pub fn choose(&self, group: GroupIx, channel: Channel) -> Option<MemberIx> {
        self.choose_excluding(group, channel, &[])
    }

    /// Like [`Core::choose`], skipping agents an item must not go back to.
    pub fn choose_excluding(
        &self,
        group: GroupIx,
        channel: Channel,
        excluded: &[AgentIx],
    ) -> Option<MemberIx> {
        let dir = self.directory();
        let c = channel.index();
        let mut best: [Option<(MemberIx, (u32, Millis))>; 2] = [None, None];
        for &m in dir.members_of(group) {
            let tier = match dir.membership(m).handling[c] {
                Handling::Primary => 0,
                Handling::Secondary => 1,
                Handling::Pull | Handling::Excluded => continue,
            };
            if !self.is_eligible(m, channel) || excluded.contains(&dir.membership(m).agent) {
                continue;
            }
            let key = self.routing_key(m, channel);
            if best[tier].is_none_or(|(_, k)| key < k) {
                best[tier] = Some((m, key));
            }
        }
        best[0].or(best[1]).map(|(m, _)| m)
    }

    /// Smaller is served first; the strategy of each channel is in this key.
    fn routing_key(&self, m: MemberIx, channel: Channel) -> (u32, Millis) {
        let agent = self.presence(self.directory().membership(m).agent);
        match channel {
            Channel::Chat => (agent.load[channel.index()], agent.last_chat_at),
            Channel::Ticket => (0, self.last_ticket_at(m)),
            Channel::Voice => (0, agent.last_call_at),
        }
    }
}
