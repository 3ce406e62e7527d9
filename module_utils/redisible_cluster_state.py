# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Parsed Redis Cluster state and the pure decisions taken over it.

Nothing in this file does I/O: every function takes parsed state (``CLUSTER NODES`` text, pod
descriptions, observed facts) and returns data. The converge executor
(``redisible_cluster_converge``) observes, asks :func:`plan_converge` what to do, does one phase
of it and observes again. Check mode prints the same plan without executing it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.redisible_pods import keeps_pod
from ansible.module_utils.redisible_replies import SLOT_COUNT, format_slot_ranges


class ClusterStateError(Exception):
    """A state the operator must not guess its way out of; the message is for humans."""


class ClusterSettlingError(ClusterStateError):
    """A state Redis resolves by itself within seconds (gossip has not reached everyone yet):
    observe again rather than act on it; an error only if it lasts."""


# ---------------------------------------------------------------------------------------------
# Desired shape and observed state
# ---------------------------------------------------------------------------------------------


class PodState(object):
    """What one pod said about itself and the cluster."""

    def __init__(self, pod, nodes=None, cluster_info=None, replication=None, dbsize=0,
                 error=None):
        self.pod = pod
        self.error = error
        self.nodes = nodes or {}
        self.cluster_info = cluster_info or {}
        self.replication = replication or {}
        self.dbsize = dbsize
        self.myself = None
        for line in self.nodes.values():
            if line.is_myself:
                self.myself = line
        if self.myself is None and error is None:
            self.error = "CLUSTER NODES has no 'myself' line (is cluster-enabled set?)"

    @property
    def reachable(self):
        return self.error is None

    @property
    def node_id(self):
        return self.myself.node_id if self.myself else None

    @property
    def cluster_ok(self):
        return self.cluster_info.get("cluster_state") == "ok"

    @property
    def knows_only_itself(self):
        return len(self.nodes) == 1

    def sees(self, other):
        """True when this pod knows ``other`` (a PodState) at its real address, connected."""
        line = self.nodes.get(other.node_id)
        return (line is not None and line.host == other.pod.host and line.port == other.pod.port
                and not line.flags & {"handshake", "noaddr", "fail", "fail?"}
                and (line.is_myself or line.link_state == "connected"))


class DesiredShape(object):
    __slots__ = ("shards", "replicas_per_shard")

    def __init__(self, shards, replicas_per_shard):
        if shards < 1:
            raise ClusterStateError("a cluster needs at least one shard, got %d" % shards)
        if replicas_per_shard < 0:
            raise ClusterStateError("replicas per shard cannot be negative")
        self.shards = shards
        self.replicas_per_shard = replicas_per_shard

    def keeps(self, pod):
        return keeps_pod(pod.shard, pod.ordinal, self.shards, self.replicas_per_shard + 1)


# ---------------------------------------------------------------------------------------------
# Slot arithmetic
# ---------------------------------------------------------------------------------------------


def slot_targets(master_ids):
    """Even slot counts for masters in shard order; the first ones take the remainder."""
    count = len(master_ids)
    base, extra = divmod(SLOT_COUNT, count)
    return {mid: base + (1 if index < extra else 0) for index, mid in enumerate(master_ids)}


def plan_slot_moves(owners, kept_masters, leaving_masters=()):
    """Moves that make ``kept_masters`` (shard order) own an even share of the owned slots.

    ``owners`` maps slot -> master id for every covered slot. Every slot of a leaving master
    moves; a kept master above its target gives away its highest slots. Destinations are filled
    in shard order, so each receives contiguous runs. Returns ``[(slot, src, dst), ...]`` with
    moves of one (src, dst) pair adjacent.
    """
    targets = slot_targets(kept_masters)
    by_owner = {}
    for slot, owner in owners.items():
        by_owner.setdefault(owner, []).append(slot)
    giving = []
    for owner in list(leaving_masters) + [m for m in kept_masters]:
        slots = sorted(by_owner.get(owner, []))
        keep = 0 if owner in leaving_masters else targets.get(owner, 0)
        if len(slots) > keep:
            giving.append((owner, slots[keep:]))
    deficits = [(m, targets[m] - len(by_owner.get(m, []))) for m in kept_masters]
    deficits = [(m, d) for m, d in deficits if d > 0]
    moves = []
    dst_index = 0
    for src, slots in giving:
        for slot in slots:
            while dst_index < len(deficits) and deficits[dst_index][1] == 0:
                dst_index += 1
            if dst_index == len(deficits):
                raise ClusterStateError("slot plan overflow: more slots to give than to take")
            dst, need = deficits[dst_index]
            moves.append((slot, src, dst))
            deficits[dst_index] = (dst, need - 1)
    return moves


def plan_slot_cover(uncovered, kept_masters, owned_counts, key_holders=None):
    """Assign uncovered slots: to the master holding keys of the slot, else fill deficits.

    ``owned_counts`` maps master -> slots it owns now. Without keys anywhere the slots fill the
    masters below their target in shard order (a new cluster gets contiguous even ranges).
    Returns ``{master_id: [slots]}``.
    """
    key_holders = key_holders or {}
    targets = slot_targets(kept_masters)
    counts = dict((m, owned_counts.get(m, 0)) for m in kept_masters)
    assignment = {}
    rest = []
    for slot in sorted(uncovered):
        holders = key_holders.get(slot) or []
        if holders:
            owner = sorted(holders)[0]
            assignment.setdefault(owner, []).append(slot)
            counts[owner] = counts.get(owner, 0) + 1
        else:
            rest.append(slot)
    for slot in rest:
        below = [m for m in kept_masters if counts[m] < targets[m]]
        owner = below[0] if below else min(kept_masters, key=lambda m: counts[m])
        assignment.setdefault(owner, []).append(slot)
        counts[owner] += 1
    return assignment


# ---------------------------------------------------------------------------------------------
# The converge plan
# ---------------------------------------------------------------------------------------------

PHASES = ("meet", "takeover", "forget_ghosts", "replicate", "failover", "repair_slots",
          "cover_slots", "move_slots", "remove_nodes")


class SlotRepair(object):
    """An open slot (MIGRATING/IMPORTING left by a crash) and how to close it.

    ``target`` is None when no node but the owner holds keys: the slot is just marked stable.
    Otherwise every key moves from ``owner`` to ``target`` (owner's copy wins) and the target
    becomes the owner: keys that already reached the target stay where clients find them.
    """

    __slots__ = ("slot", "owner", "target", "open_on", "stale_views")

    def __init__(self, slot, owner, target, open_on, stale_views=()):
        self.slot = slot
        self.owner = owner
        self.target = target
        self.open_on = open_on
        # Nodes that see no owner (or a stale one) for the slot: a node IMPORTING a slot
        # ignores claims on it, and one unowned slot keeps its whole cluster down (RESTORE-ASKING
        # gets CLUSTERDOWN). SETSLOT <slot> NODE <owner> fixes the view and keeps IMPORTING.
        self.stale_views = list(stale_views)

    def describe(self):
        if self.target is None:
            return "slot %d: clear open state on %s" % (self.slot, ",".join(
                n[:8] for n in self.open_on))
        return "slot %d: finish migration %s -> %s" % (self.slot, (self.owner or "-")[:8],
                                                      self.target[:8])


class LostSlots(object):
    """Slots whose only copy was on a node that no pod is any more (its volume was lost: the
    pod came back with a new node id) and that no replica followed. Covering them with an
    empty master would lose their keys silently: the converge leaves them uncovered (the
    cluster reports the failure) until the user accepts the loss or restores them."""

    __slots__ = ("node_id", "address", "shard", "slots", "accepted")

    def __init__(self, node_id, address, shard, slots, accepted=False):
        self.node_id = node_id
        self.address = address
        self.shard = shard
        self.slots = sorted(slots)
        self.accepted = accepted

    def as_dict(self):
        return {"nodeId": self.node_id, "address": self.address, "shard": self.shard,
                "slots": format_slot_ranges(self.slots), "slotCount": len(self.slots)}

    def describe(self):
        return "slots %s (%d) of shard %s: their only copy was on node %s (%s), which is gone " \
            "and had no replica" % (format_slot_ranges(self.slots), len(self.slots),
                                    "?" if self.shard is None else self.shard, self.node_id,
                                    self.address)


def accepts_loss(node_id, accepted):
    """True when the user accepted the loss of ``node_id``'s slots: ``accepted`` lists node ids
    (or prefixes of at least 8 characters, as status shows them)."""
    return any(len(a) >= 8 and node_id.startswith(a) for a in accepted or ())


class ConvergePlan(object):
    """Everything one converge would do, phase by phase, from one observation."""

    def __init__(self, states=()):
        self.states = list(states)  # the observation the plan was made from
        self.meets = []            # (from PodState, to PodState)
        self.set_epochs = []       # (PodState, epoch) for fresh nodes of a new cluster
        self.forgets = []          # (PodState on which, node id)
        self.replicates = []       # (PodState, master node id)
        self.failovers = []        # PodState of the replica to promote
        self.takeovers = []        # PodState of a replica whose master is gone for good
        self.lost = []             # LostSlots (accepted ones are covered by an empty master)
        self.repairs = []          # SlotRepair
        self.cover = {}            # master id -> [slots]
        self.moves = []            # (slot, src, dst)
        self.removals = []         # PodState leaving the cluster
        self.shard_masters = {}    # shard index -> PodState
        self.placement_conflicts = []
        self.notes = []

    def phase_pending(self, phase):
        return bool({
            "meet": self.meets or self.set_epochs,
            "takeover": self.takeovers,
            "forget_ghosts": self.forgets,
            "replicate": self.replicates,
            "failover": self.failovers,
            "repair_slots": self.repairs,
            "cover_slots": self.cover,
            "move_slots": self.moves,
            "remove_nodes": self.removals,
        }[phase])

    @property
    def empty(self):
        return not any(self.phase_pending(p) for p in PHASES)

    def first_pending_phase(self):
        for phase in PHASES:
            if self.phase_pending(phase):
                return phase
        return None

    def summary(self):
        """Human-readable list of what would change, for check mode and logs."""
        out = []
        for src, dst in self.meets:
            out.append("meet: %s -> %s (%s)" % (src.pod.name, dst.pod.name, dst.pod.address))
        for state, epoch in self.set_epochs:
            out.append("set config epoch %d on %s" % (epoch, state.pod.name))
        for state in self.takeovers:
            out.append("takeover: %s takes the slots of its gone master" % state.pod.name)
        for state, node_id in self.forgets:
            out.append("forget %s on %s" % (node_id[:8], state.pod.name))
        for state, master in self.replicates:
            out.append("replicate: %s follows %s" % (state.pod.name, self.name_of(master)))
        for state in self.failovers:
            out.append("failover: promote %s" % state.pod.name)
        for repair in self.repairs:
            out.append("repair " + repair.describe())
        for master, slots in sorted(self.cover.items()):
            out.append("assign %d slots (%s) to %s" % (len(slots), format_slot_ranges(slots),
                                                      self.name_of(master)))
        pairs = {}
        for _slot, src, dst in self.moves:
            pairs[(src, dst)] = pairs.get((src, dst), 0) + 1
        for (src, dst), count in pairs.items():
            out.append("move %d slots with their keys: %s -> %s" % (
                count, self.name_of(src), self.name_of(dst)))
        for state in self.removals:
            out.append("remove %s (%s) from the cluster" % (state.pod.name, state.node_id[:8]))
        return out

    @property
    def unaccepted_losses(self):
        return [lost for lost in self.lost if not lost.accepted]

    def state_of(self, node_id):
        for state in self.states:
            if state.node_id == node_id:
                return state
        return None

    def name_of(self, node_id):
        state = self.state_of(node_id)
        return state.pod.name if state else node_id[:8]


def _member_states(states, desired):
    """Pods that take part: every kept pod, and each leaving pod still joined to the cluster
    (it owns slots, or it and a kept pod know each other)."""
    kept = [s for s in states if desired.keeps(s.pod)]
    kept_ids = set(s.node_id for s in kept)
    members = list(kept)
    for state in states:
        if desired.keeps(state.pod):
            continue
        if (state.myself.slots or set(state.nodes) & kept_ids
                or any(state.node_id in k.nodes for k in kept)):
            members.append(state)
    return members


def _plan_meets(members):
    """Anchor first: the best-connected pod meets whoever it does not see at the right address,
    and whoever it sees but who does not see it meets it back (a MEET handshake also corrects
    the receiver's view of the sender). Once the anchor and everybody agree, any pair still
    wrong (gossip did not fix it) meets directly."""
    if len(members) < 2:
        return []
    anchor = max(members, key=lambda s: (sum(1 for o in members if s.sees(o)),
                                         len(s.myself.slots), -s.pod.shard, -s.pod.ordinal))
    meets = []
    for other in members:
        if other is anchor:
            continue
        if not anchor.sees(other):
            meets.append((anchor, other))
        elif not other.sees(anchor):
            meets.append((other, anchor))
    if meets:
        return meets
    return [(state, other) for state in members for other in members
            if other is not state and not state.sees(other)]


def _choose_shard_master(shard, shard_states, taken_nodes, ghost_ids=()):
    """The pod that masters a shard: the one already serving its slots; otherwise a replica of
    a master that is gone for good (it holds the slots' data; an empty pod never does);
    otherwise an empty master its shard-mates already follow; otherwise the lowest ordinal on
    a Kubernetes node that hosts no other shard's master (so a node failure costs as few
    masters as possible)."""
    with_slots = [s for s in shard_states if s.myself.is_master and s.myself.slots]
    if len(with_slots) > 1:
        successor = _failover_successor(with_slots)
        if successor is not None:
            raise ClusterSettlingError(
                "shard %d: %s still claims slots that %s took over with a newer config epoch; "
                "waiting for it to learn that it was replaced" % (
                    shard, ", ".join(s.pod.name for s in with_slots if s is not successor),
                    successor.pod.name))
        raise ClusterStateError(
            "shard %d has %d masters serving slots (%s); refusing to guess which data is right"
            % (shard, len(with_slots), ", ".join(s.pod.name for s in with_slots)))
    if with_slots:
        return with_slots[0]
    heirs = [s for s in shard_states if s.myself.is_replica
             and s.myself.master_id in ghost_ids]
    if heirs:
        return max(heirs, key=lambda s: (_replicated_offset(s), s.dbsize, -s.pod.ordinal))
    followed = {}
    for state in shard_states:
        if state.myself.is_replica and state.myself.master_id:
            followed[state.myself.master_id] = followed.get(state.myself.master_id, 0) + 1
    masters = [s for s in shard_states if s.myself.is_master and followed.get(s.node_id)]
    if masters:
        return max(masters, key=lambda s: followed[s.node_id])
    ordered = sorted(shard_states, key=lambda s: s.pod.ordinal)
    for state in ordered:
        if state.pod.node_name is None or state.pod.node_name not in taken_nodes:
            return state
    return ordered[0]


def _replicated_offset(state):
    try:
        return int(state.replication.get("slave_repl_offset") or 0)
    except ValueError:
        return 0


def _ghost_slots(members, ids):
    """node id -> slots, for nodes that members see serving slots but that no pod is."""
    ghosts = {}
    for state in members:
        for node_id, line in state.nodes.items():
            if node_id not in ids and line.is_master and line.slots:
                ghosts.setdefault(node_id, (set(), line))[0].update(line.slots)
    return ghosts


def _failover_successor(claimants):
    """Right after a failover the replaced master still claims its slots until gossip brings
    it the successor's claim; Redis settles such a conflict for the higher config epoch. The
    successor: the one claimant with a strictly higher epoch whose slots include every other
    claim. None when the claims conflict in any other way (that is not a failover)."""
    ranked = sorted(claimants, key=lambda s: s.myself.config_epoch, reverse=True)
    best = ranked[0]
    if best.myself.config_epoch == ranked[1].myself.config_epoch:
        return None
    if any(not other.myself.slots <= best.myself.slots for other in ranked[1:]):
        return None
    return best


def _replicates_stale_address(state, master):
    host = state.replication.get("master_host")
    port = state.replication.get("master_port")
    if host is None or port is None:
        return False
    return (host, str(port)) != (master.pod.host, str(master.pod.port))


def view_owner(state, slot):
    """Who ``state`` believes serves ``slot`` (None when nobody does in its view)."""
    for line in state.nodes.values():
        if line.is_master and slot in line.slots:
            return line.node_id
    return None


def observed_owners(members):
    """slot -> owner id, from each master's own claim (the authority for its slots)."""
    owners = {}
    for state in members:
        if state.myself.is_master:
            for slot in state.myself.slots:
                owners[slot] = state.node_id
    return owners


def plan_converge(states, desired, slot_keys=None, accepted_losses=()):
    """Decide everything a converge does, from one observation of every pod.

    ``states``: a PodState for every pod (kept and leaving); all must be reachable.
    ``slot_keys``: ``{slot: {node_id: key count}}`` for open and uncovered slots (the executor
    observes these only when such slots exist).
    ``accepted_losses``: node ids whose lost slots the user allows to be covered empty.
    """
    plan = ConvergePlan(states)
    unreachable = [s for s in states if not s.reachable]
    if unreachable:
        raise ClusterStateError("pods not reachable: " + "; ".join(
            "%s (%s): %s" % (s.pod.name, s.pod.address, s.error) for s in unreachable))
    ids = {}
    for state in states:
        if state.node_id in ids:
            raise ClusterStateError("pods %s and %s report the same node id %s" % (
                ids[state.node_id].pod.name, state.pod.name, state.node_id))
        ids[state.node_id] = state
    for index in range(desired.shards):
        if not any(s.pod.shard == index and desired.keeps(s.pod) for s in states):
            raise ClusterStateError("shard %d has no pod yet" % index)

    members = _member_states(states, desired)
    member_ids = set(s.node_id for s in members)
    kept = [s for s in members if desired.keeps(s.pod)]
    leaving = [s for s in members if not desired.keeps(s.pod)]

    # A brand-new cluster: distinct config epochs before the first meet avoid collisions.
    if all(s.knows_only_itself and not s.myself.slots for s in members) and len(members) > 1:
        plan.set_epochs = [(s, i + 1) for i, s in enumerate(
            sorted(members, key=lambda s: (s.pod.shard, s.pod.ordinal)))
            if s.myself.config_epoch == 0]
    plan.meets = _plan_meets(members)

    # Nodes that no pod is: gone for good (a lost volume gives a pod a new id). Every pod
    # answered with its id, so none of them is such a node: its slots survive only where a
    # replica followed it (that replica takes over), else they are lost.
    ghosts = _ghost_slots(members, ids)
    owners = observed_owners(members)
    heirs = set(s.myself.master_id for s in members if s.myself.is_replica)
    by_address = dict((s.pod.address, s) for s in states)
    for node_id, (slots, line) in sorted(ghosts.items()):
        orphaned = slots - set(owners)
        if node_id in heirs or not orphaned or not line.is_failing:
            continue
        state = by_address.get(line.address)
        plan.lost.append(LostSlots(node_id, line.address, state.pod.shard if state else None,
                                   orphaned, accepts_loss(node_id, accepted_losses)))
    kept_ghosts = set(node_id for node_id in ghosts if node_id in heirs) | set(
        lost.node_id for lost in plan.unaccepted_losses)
    for state in members:
        for node_id, line in state.nodes.items():
            if node_id in member_ids or node_id in ids:
                continue
            if line.slots and not line.is_failing:
                raise ClusterStateError(
                    "node %s at %s serves slots %s but is none of this cluster's pods; "
                    "refusing to forget a live node" % (node_id, line.address,
                                                        format_slot_ranges(line.slots)))
            if state.myself.master_id == node_id:
                continue  # following a ghost: replicate moves it first, then forget
            if node_id in kept_ghosts and line.slots:
                continue  # its slots' heir takes over first, or the user decides on them
            plan.forgets.append((state, node_id))

    # Who masters each kept shard, and who follows whom.
    taken_nodes = set()
    for shard in range(desired.shards):
        shard_states = [s for s in members if s.pod.shard == shard]
        master = _choose_shard_master(shard, shard_states, taken_nodes, ghosts)
        plan.shard_masters[shard] = master
        if master.myself.is_replica and master.myself.master_id in ghosts:
            plan.takeovers.append(master)
        if master.pod.node_name:
            taken_nodes.add(master.pod.node_name)
        for state in shard_states:
            if state is master:
                continue
            if state.myself.is_master and state.dbsize and not state.myself.slots:
                raise ClusterStateError(
                    "%s is a master with %d keys but no slots; it cannot follow %s without "
                    "discarding them: move or flush them by hand" % (
                        state.pod.name, state.dbsize, master.pod.name))
            if state.myself.master_id != master.node_id or not state.myself.is_replica:
                plan.replicates.append((state, master.node_id))
            elif _replicates_stale_address(state, master):
                # The master moved (new pod IP) and this replica still dials the old address:
                # CLUSTER REPLICATE again re-points replication at the current one.
                plan.replicates.append((state, master.node_id))
            elif state.pod.node_name and state.pod.node_name == master.pod.node_name:
                plan.placement_conflicts.append(
                    "%s and its master %s share Kubernetes node %s" % (
                        state.pod.name, master.pod.name, state.pod.node_name))
        if not desired.keeps(master.pod):
            # The master sits on an ordinal that goes away: hand over to a synced kept replica.
            ready = [s for s in shard_states if desired.keeps(s.pod) and s.myself.is_replica
                     and s.myself.master_id == master.node_id
                     and s.replication.get("master_link_status") == "up"]
            if ready:
                plan.failovers.append(sorted(ready, key=lambda s: s.pod.ordinal)[0])
            else:
                plan.notes.append("shard %d: waiting for a replica of %s to sync before the "
                                  "failover" % (shard, master.pod.name))

    # A lost node whose address Redis dropped (a new node answered there) belongs to the one
    # shard left without slots, when there is exactly one.
    bare = [i for i in range(desired.shards) if not plan.shard_masters[i].myself.slots
            and plan.shard_masters[i] not in plan.takeovers]
    unplaced = [lost for lost in plan.lost if lost.shard is None]
    if len(unplaced) == 1 and len(bare) == 1:
        unplaced[0].shard = bare[0]

    kept_masters = [plan.shard_masters[i].node_id for i in range(desired.shards)]
    leaving_masters = [s.node_id for s in leaving
                       if s.myself.is_master and s.myself.slots and s.pod.shard >= desired.shards]

    # Open slots left by a crash, then uncovered slots.
    slot_keys = slot_keys or {}
    open_slots = {}
    for state in members:
        for slot in list(state.myself.migrating) + list(state.myself.importing):
            open_slots.setdefault(slot, set()).add(state.node_id)
    for slot in sorted(open_slots):
        owner = owners.get(slot)
        holders = [n for n, c in sorted((slot_keys.get(slot) or {}).items())
                   if c and n != owner and n in member_ids and ids[n].myself.is_master]
        importing = [s.node_id for s in members if slot in s.myself.importing
                     and s.myself.is_master and s.node_id != owner]
        target = None
        if holders:
            preferred = [h for h in holders if h in importing]
            target = (preferred or holders)[0]
        if owner is None:
            # Nobody owns it: cover_slots gives it to the holder; just clear the open state.
            target = None
        stale = [n for n in sorted(set(open_slots[slot]) | ({target} - {None}))
                 if owner is not None and n != owner and view_owner(ids[n], slot) != owner]
        plan.repairs.append(SlotRepair(slot, owner, target, sorted(open_slots[slot]),
                                       stale_views=stale))

    uncovered = set(range(SLOT_COUNT)) - set(owners)
    for lost in plan.unaccepted_losses:
        uncovered -= set(lost.slots)
    for node_id, (slots, _line) in ghosts.items():
        if node_id in heirs:
            uncovered -= slots  # the heir's takeover covers them with their data
    if uncovered:
        counts = {}
        for owner in owners.values():
            counts[owner] = counts.get(owner, 0) + 1
        holders = {}
        for slot in uncovered:
            found = [n for n, c in (slot_keys.get(slot) or {}).items() if c and n in member_ids]
            if found:
                holders[slot] = found
        plan.cover = plan_slot_cover(uncovered, kept_masters, counts, holders)

    # Rebalance over what the cluster will own once repaired and covered.
    future = dict(owners)
    for repair in plan.repairs:
        if repair.target:
            future[repair.slot] = repair.target
    for master, slots in plan.cover.items():
        for slot in slots:
            future[slot] = master
    # No rebalancing while slots wait for the user's decision on their lost data, nor while
    # an heir has still to take over: only what is needed, not a reshuffle of a sick cluster.
    if not plan.unaccepted_losses and not plan.takeovers:
        plan.moves = plan_slot_moves(future, kept_masters, leaving_masters)

    # Leaving pods go once they own nothing and nobody kept follows them.
    for state in leaving:
        if state.myself.slots and state.myself.is_master:
            continue
        if any(k.myself.master_id == state.node_id for k in kept):
            continue
        plan.removals.append(state)
    return plan


def topology(states):
    """The user-facing topology: per shard its master, replicas, slots and keys."""
    shards = {}
    for state in states:
        if not state.reachable or state.myself is None:
            continue
        entry = shards.setdefault(state.pod.shard, {"shard": state.pod.shard, "master": None,
                                                    "replicas": []})
        me = state.myself
        member = {"pod": state.pod.name, "ip": state.pod.host, "port": state.pod.port,
                  "nodeId": state.node_id, "node": state.pod.node_name, "keys": state.dbsize}
        if me.is_master and (me.slots or entry["master"] is None):
            if entry["master"] is not None:
                entry["replicas"].append(entry["master"])
            member["slots"] = format_slot_ranges(me.slots)
            member["slotCount"] = len(me.slots)
            entry["master"] = member
        else:
            member["masterId"] = me.master_id
            member["linkStatus"] = state.replication.get("master_link_status")
            entry["replicas"].append(member)
    result = [shards[k] for k in sorted(shards)]
    for entry in result:
        entry["replicas"].sort(key=lambda m: m["pod"])
    return result
