"""The rules engine: readings in, alert revisions out.

A pure state machine over (readings, clock): no I/O, so every transition is tested on a fake clock.
A *track* is one rule watching one point of one device: its window, counter, pending `for_s` and
whether the condition holds. An *incident* is what officers see: one per dedup key (rule and point,
device or site, see `group_by`), with one event_id and a revision per change: firing, update (an
escalation or a new device joining a site's incident; rare on purpose), resolved.

Defined behaviour for doubtful input (docs/rules.md):
- quality bad: the device spoke (absence is satisfied) but the value changes no condition or window;
  quality unavailable: not heard from at all. NaN and infinities are treated as bad quality.
- a reading older than the last one of its point is out of order and ignored; one with the same
  timestamp and value is a duplicate and ignored; each is counted.
- readings of unregistered devices are evaluated (site = device id) but never watched for absence.

Durable state (rules/durable.py): every transition marks what it touched; `changes()` hands the
records over once per step, for the caller to commit with the step's events, and `restore()` takes
them back after a restart (docs/rules.md, "Restarts").
"""

from __future__ import annotations

import heapq
import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gridedge.edge.alert import Alert
from gridedge.edge.clock import Clock
from gridedge.edge.event import EventStatus, Severity
from gridedge.edge.reading import Quality, Reading
from gridedge.rules import durable
from gridedge.rules.compiled import CompiledRule, compile_pack
from gridedge.rules.condition import Evaluator
from gridedge.rules.correlation import Holding, Member
from gridedge.rules.durable import Changes, Record
from gridedge.rules.hygiene import DEFAULT_MAX_SILENCE_S, ActiveSilence, Held, Silences
from gridedge.rules.model import GroupBy, Match, RuleKind, RulePack, Silence
from gridedge.rules.state import DeviceFacts, Incident, Track, first_revision, next_revision, resolved_revision
from gridedge.rules.windows import Occurrences, Window

TrackKey = Member
SAVE_S = 10.0
"""How often the windows of holding tracks and when devices were last heard are saved (coalesced):
they change on every reading, the rest of the state only on transitions."""
RESTART_GRACE_S = 60.0
"""After a restart a device gets this long (at most its offline interval) to be heard before an absence
fires: the gateway cannot tell a device's silence from its own deafness while it was down."""


def new_event_id() -> str:
    return uuid.uuid4().hex


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


class RuleEngine:
    def __init__(
        self,
        pack: RulePack,
        clock: Clock,
        event_id: Callable[[], str] = new_event_id,
        *,
        max_silence_s: float = DEFAULT_MAX_SILENCE_S,
    ) -> None:
        self._clock = clock
        self._event_id = event_id
        self._eval = Evaluator()
        self.counters: Counter[str] = Counter()
        self._devices: dict[str, DeviceFacts] = {}
        self._tracks: dict[TrackKey, Track] = {}
        self._pending: dict[TrackKey, Track] = {}
        self._deadlines: list[tuple[float, TrackKey, float]] = []  # (due, track, pending since)
        self._incidents: dict[str, Incident] = {}
        self._at_site: dict[str, set[str]] = {}
        self._clearing: dict[str, Incident] = {}
        self._held: dict[str, Incident] = {}
        self._published: Counter[str] = Counter()
        self._seen: dict[tuple[str, str], float] = {}  # (absence rule, device): last matching reading
        self._offline: dict[str, set[str]] = {}  # device: open absence incident keys
        self._holding = Holding()
        self._silences = Silences(max_silence_s)
        self._out: list[Alert] = []
        self._dirty_incidents: set[str] = set()
        self._dirty_tracks: set[TrackKey] = set()
        self._dirty_silences: set[str] = set()
        self._lazy_tracks: set[TrackKey] = set()  # saved at the next coalesced save (SAVE_S)
        self._saved: Changes = {}  # records made by the coalesced save, for the next changes()
        self._saved_at = -math.inf  # the first save has every registered device
        self._install(compile_pack(pack))
        self._silences.replace_pack(pack.silences, clock.now())

    def _install(self, rules: list[CompiledRule]) -> None:
        self.rules = tuple(rules)
        self._by_id = {cr.rule.id: cr for cr in rules}
        self._fingerprints = {cr.rule.id: durable.fingerprint(cr.rule) for cr in rules}
        members = {m for cr in rules for m in cr.rule.all_of}
        self._correlations: dict[str, list[CompiledRule]] = {}
        for cr in rules:
            for member in cr.rule.all_of:
                self._correlations.setdefault(member, []).append(cr)
        self._by_role: dict[str, list[CompiledRule]] = {}
        self._by_point: dict[str, list[CompiledRule]] = {}
        # Inhibitors and correlation members first: a fire decided on this reading already inhibits its
        # lesser events, rather than letting them be published and withdrawn in the same breath.
        for cr in sorted(rules, key=lambda c: not c.rule.inhibits and c.rule.id not in members):
            m = cr.rule.match
            if cr.rule.kind is not RuleKind.CONDITION or m is None:
                continue
            if m.role is not None:
                self._by_role.setdefault(m.role, []).append(cr)
            else:
                assert m.point is not None
                self._by_point.setdefault(m.point, []).append(cr)
        self._absence = [cr for cr in rules if cr.rule.kind is RuleKind.ABSENCE]
        self._matched_absence = [cr for cr in self._absence if cr.rule.match is not None]

    # -- inventory and operator input --------------------------------------------------------------
    def register_device(
        self,
        device_id: str,
        labels: Mapping[str, str],
        offline_after_s: float | None,
        roles: Iterable[str] | None = None,
    ) -> None:
        """Known devices are watched for absence from now on, even if they never speak."""
        previous = self._devices.get(device_id)
        last_seen = previous.last_seen if previous else self._clock.now()
        self._devices[device_id] = DeviceFacts(
            labels,
            offline_after_s,
            last_seen,
            frozenset(roles) if roles is not None else None,
            labels.get("site") or device_id,
        )

    def silence(self, silence: Silence) -> ActiveSilence:
        """Mute matching incidents until the silence's end; what fires meanwhile is held, not lost.
        Refused (SilenceRefusedError, a ValueError) without an author or a reason, or when it would
        end in the past or later than the maximum after now."""
        active = self._silences.add(silence, self._clock.now())
        self._dirty_silences.add(active.id)
        return active

    def expire_silence(self, silence_id: str) -> list[Alert]:
        """End an operator's silence now (LookupError if none such); held incidents that still fire are
        published."""
        self._silences.remove(silence_id)
        self._dirty_silences.add(silence_id)
        out: list[Alert] = []
        self._out = out
        self._show_held()
        self._out = []
        return out

    def silences(self) -> list[ActiveSilence]:
        return self._silences.active()

    def held(self) -> Counter[str]:
        """Open incidents not shown to officers now, by why: silenced, inhibited, flood. Safe to call from
        another thread (a metrics scrape): it walks a copy."""
        return Counter(i.held.value for i in list(self._held.values()) if i.held is not None)

    def unmatched_rules(self) -> list[str]:
        """Rules whose role no registered device has (only devices whose roles are known are asked)."""
        roles = {r for f in self._devices.values() if f.roles is not None for r in f.roles}
        return [
            cr.rule.id
            for cr in self.rules
            if cr.rule.match is not None and cr.rule.match.role is not None and cr.rule.match.role not in roles
        ]

    # -- input ---------------------------------------------------------------------------------------
    def process(self, readings: Iterable[Reading]) -> list[Alert]:
        out: list[Alert] = []
        self._out = out
        now = self._clock.now()
        for reading in readings:
            facts = self._devices.get(reading.device_id)
            if reading.quality is not Quality.UNAVAILABLE:
                if facts is not None:
                    facts.last_seen = now
                if self._matched_absence or reading.device_id in self._offline:
                    self._heard(reading, now)
            if reading.quality is not Quality.GOOD:
                self.counters["bad_quality"] += 1
                continue
            value = reading.value
            if isinstance(value, float) and not math.isfinite(value):
                self.counters["not_a_number"] += 1
                continue
            candidates = self._by_role.get(reading.role, ()) if reading.role else ()
            by_point = self._by_point.get(reading.point)
            if by_point:
                candidates = [*candidates, *by_point]
            if not candidates:
                continue
            site = facts.site if facts is not None else reading.device_id
            refused = ""
            for cr in candidates:
                if cr.narrowed and not cr.narrowed(reading, facts.labels if facts is not None else {}):
                    continue
                refused = self._evaluate(cr, reading, site, now) or refused
            if refused:
                self.counters[refused] += 1
        self._out = []
        return out

    def tick(self) -> list[Alert]:
        """Time-driven transitions: for_s served, keep_firing_s over, silent devices, ended silences,
        escalations."""
        out: list[Alert] = []
        self._out = out
        now = self._clock.now()
        self._served(now)
        for incident in list(self._clearing.values()):
            assert incident.clear_since is not None
            if now - incident.clear_since >= incident.cr.rule.keep_firing_s:
                self._resolve(incident, now)
        self._absences(now)
        ended = self._silences.expire(now)
        if ended:
            self._dirty_silences.update(s.id for s in ended if not s.from_pack)
            self._show_held()
        for incident in list(self._incidents.values()):
            self._escalate(incident, now)
        if now - self._saved_at >= SAVE_S:
            self._save_lazy(now)
        self._out = []
        return out

    def firing(self) -> list[Alert]:
        """The last published revision of every open, shown incident."""
        return [i.alert for i in self._incidents.values() if i.alert is not None]

    def reload(self, pack: RulePack) -> list[Alert]:
        """Swap in new rules keeping what can be kept: an unchanged rule keeps its windows, pending
        timers and open incidents (same event_id, no new revision); a changed one keeps its incidents
        but restarts its windows and timers; a removed one resolves its incidents."""
        rules = compile_pack(pack)
        out: list[Alert] = []
        self._out = out
        old = self._by_id
        new = {cr.rule.id: cr for cr in rules}
        changed = {rid for rid, cr in old.items() if rid not in new or new[rid].rule != cr.rule}
        now = self._clock.now()
        for incident in list(self._incidents.values()):
            if incident.cr.rule.id not in new:
                self._resolve(incident, now)
            else:
                incident.cr = new[incident.cr.rule.id]
                self._dirty_incidents.add(incident.key)  # its rule's fingerprint
        for key, track in list(self._tracks.items()):
            self._dirty_tracks.add(key)
            if key[0] not in new:
                del self._tracks[key]
                self._pending.pop(key, None)
            elif key[0] in changed:
                self._restart(track, new[key[0]])
                self._pending.pop(key, None)
            else:
                track.cr = new[key[0]]
        self._holding.forget(changed)
        self._install(rules)
        self._silences.replace_pack(pack.silences, now)
        self._show_held()
        self._out = []
        return out

    def _restart(self, track: Track, cr: CompiledRule) -> None:
        """A changed rule keeps the track's membership of its incident but restarts its windows and timers."""
        track.cr = cr
        track.window = Window(cr.rule.window_s) if cr.rule.window_s else None
        track.occurrences = self._occurrences(cr)
        track.pending_since, track.raw, track.holds, track.overdue = None, False, False, False
        track.last = None  # the changed rule decides the next reading afresh, even a repeat

    # -- durable state ---------------------------------------------------------------------------------
    def changes(self) -> Changes:
        """What changed since the last call, as records (None: forget it); commit them with the events of
        the same step. Windows and last-heard times are added at most every SAVE_S (see `tick`)."""
        if not (self._dirty_incidents or self._dirty_tracks or self._dirty_silences or self._saved):
            return {}
        out, self._saved = self._saved, {}
        if self._lazy_tracks and self._dirty_tracks:
            self._lazy_tracks.difference_update(self._dirty_tracks)  # saved now: not again at the next save
        fps = self._fingerprints
        for key in self._dirty_incidents:
            incident = self._incidents.get(key)
            out[durable.INCIDENT + key] = (
                durable.incident_record(incident, fps[incident.cr.rule.id]) if incident is not None else None
            )
        for tk in self._dirty_tracks:
            track = self._tracks.get(tk)
            out[durable.track_key(tk)] = durable.track_record(track, fps[tk[0]]) if track is not None else None
        active = {s.id: s for s in self._silences.active() if not s.from_pack} if self._dirty_silences else {}
        for sid in self._dirty_silences:
            found = active.get(sid)
            out[durable.SILENCE + sid] = found.record() if found is not None else None
        self._dirty_incidents, self._dirty_tracks, self._dirty_silences = set(), set(), set()
        return out

    def _save_lazy(self, now: float) -> None:
        """Coalesced saves: tracks that only hold (evidence for correlations), the windows of tracks under
        a timer or an incident (what a restart shorter than the window would otherwise forget), and when
        devices were last heard."""
        since, self._saved_at = self._saved_at, now
        self._dirty_tracks |= self._lazy_tracks
        self._lazy_tracks = set()
        for tk, track in self._pending.items():
            if track.window is not None:
                self._dirty_tracks.add(tk)
        for incident in self._incidents.values():
            for member in incident.members:
                if isinstance(member, tuple) and member in self._tracks and self._tracks[member].window is not None:
                    self._dirty_tracks.add(member)
        heard: dict[str, Record] = {}
        for device, facts in self._devices.items():
            if facts.last_seen > since:
                heard[device] = {"last_seen": facts.last_seen, "seen": {}}
        for (rule_id, device), t in self._seen.items():
            if t > since and device in heard:
                heard[device]["seen"][rule_id] = t
        self._saved.update({durable.DEVICE + d: rec for d, rec in heard.items()})

    def restore(self, state: Mapping[str, Record]) -> list[Alert]:
        """Take back what a previous run committed (call after registering the devices, before the first
        reading). Open incidents continue under their event_id; each is judged by the next reading of
        its points: resolved with the next seq if the condition ended while the gateway was down,
        nothing new if it still holds. An incident whose rule is gone is resolved now (returned); a
        changed rule keeps its incidents and restarts its windows and timers, as a hot reload does."""
        out: list[Alert] = []
        self._out = out
        now = self._clock.now()
        for key, rec in state.items():
            if key.startswith(durable.SILENCE):
                silence = ActiveSilence.from_record(rec)
                self._silences.restore(silence)
            elif key.startswith(durable.DEVICE):
                self._restore_heard(key.removeprefix(durable.DEVICE), rec, now)
        for key, rec in state.items():
            if key.startswith(durable.TRACK):
                self._restore_track(key, rec, now)
        for key, rec in state.items():
            if key.startswith(durable.INCIDENT):
                self._restore_incident(key.removeprefix(durable.INCIDENT), rec, now)
        self._show_held()
        self._out = []
        self.counters["restored_incidents"] += len(self._incidents)
        return out

    def _restore_heard(self, device_id: str, rec: Record, now: float) -> None:
        facts = self._devices.get(device_id)
        if facts is None:  # gone from the inventory: forget it
            self._saved[durable.DEVICE + device_id] = None
            return
        facts.last_seen = self._heard_by(float(rec["last_seen"]), facts.offline_after_s, now)
        for rule_id, t in rec.get("seen", {}).items():
            cr = self._by_id.get(rule_id)
            if cr is not None:
                after = cr.rule.after_s if cr.rule.after_s is not None else facts.offline_after_s
                self._seen[(rule_id, device_id)] = self._heard_by(float(t), after, now)

    @staticmethod
    def _heard_by(last: float, after: float | None, now: float) -> float:
        """The last-heard time a restart may assume: the saved one, unless that would declare the device
        absent before it had RESTART_GRACE_S (or half its interval, at most all of it) to be heard."""
        if after is None:
            return min(last, now)
        grace = min(after, max(RESTART_GRACE_S, after / 2))
        return min(now, max(last, now - after + grace))

    def _restore_track(self, state_key: str, rec: Record, now: float) -> None:
        key = durable.parse_track_key(state_key)
        cr = self._by_id.get(key[0]) if key is not None else None
        if key is None or cr is None:  # its rule is gone: forget it
            self._saved[state_key] = None
            return
        window = Window(cr.rule.window_s) if cr.rule.window_s is not None else None
        track = durable.track_from(rec, cr, window, self._occurrences(cr))
        self._tracks[key] = track
        if rec.get("fp") != self._fingerprints[cr.rule.id]:
            self._restart(track, cr)
            self._dirty_tracks.add(key)
            return
        if track.holds:
            self._holding.update(track.site, cr.rule.id, key, True)
        if track.pending_since is not None:
            due = track.pending_since + cr.rule.for_s
            self._pending[key] = track
            if due > now:
                heapq.heappush(self._deadlines, (due, key, track.pending_since))
            else:  # its time was served while the gateway was down: the next reading decides, even a repeat
                track.overdue, track.last = True, None

    def _restore_incident(self, key: str, rec: Record, now: float) -> None:
        cr = self._by_id.get(rec["rule"])
        if cr is None:  # the rule is gone: a shown incident is resolved now, under its own event_id
            self._dirty_incidents.add(key)
            if rec.get("alert") is not None:
                last = durable.alert_from(rec["alert"], durable.readings_from(rec["evidence"]))
                note = "Resolved: its rule was removed while the gateway was down."
                self._out.append(resolved_revision(last, now, note))
            return
        incident = durable.incident_from(key, rec, cr)
        if rec.get("fp") != self._fingerprints[cr.rule.id]:
            self._dirty_incidents.add(key)
        # A member track that was not kept cannot end the incident: the incident is judged afresh by the
        # rule's next reading of that point (it rejoins, or the incident clears when none is left).
        incident.members = {m for m in incident.members if not isinstance(m, tuple) or m in self._tracks}
        self._incidents[key] = incident
        self._at_site.setdefault(incident.site, set()).add(key)
        if incident.alert is not None:
            self._published[cr.rule.id] += 1
        if incident.held is not None:
            self._held[key] = incident
        if incident.clear_since is not None:
            self._clearing[key] = incident
        if cr.rule.kind is RuleKind.ABSENCE and incident.members:
            self._offline.setdefault(incident.device_id, set()).add(key)
        if not incident.members and incident.clear_since is None and cr.rule.kind is RuleKind.CONDITION:
            self._clear(incident, now)

    # -- evaluation ----------------------------------------------------------------------------------
    def _evaluate(self, cr: CompiledRule, reading: Reading, site: str, now: float) -> str:
        """One rule on one reading; returns why the reading was refused, or ''."""
        rule = cr.rule
        key = (rule.id, reading.device_id, reading.point)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = self._new_track(cr, reading, site)
        last = track.last
        if last is not None:
            if reading.ts < last.ts:
                return "out_of_order"
            if reading.value == last.value:
                if reading.ts == last.ts:
                    return "duplicate"
                if cr.steady:  # the same value decides the same: nothing changes but what was seen last
                    track.last = reading
                    if track.member:
                        self._incidents[track.incident_key].evidence.append(reading)
                    return ""
        track.last = reading
        names: dict[str, Any] = {
            "value": reading.value,
            "point": reading.point,
            "role": reading.role,
            "unit": reading.unit,
            "device": reading.device_id,
            "site": site,
        }
        if track.window is not None:
            number = _number(reading.value)
            if number is not None:
                track.window.push(reading.ts, number)
                names.update(track.window.aggregates(cr.wanted))
        active = cr.schedule is None or cr.schedule.active(now)
        assert cr.condition is not None
        raw = active and self._eval.holds(cr.condition, names)
        holds = raw
        if track.occurrences is not None:
            assert rule.occurrences is not None
            count = track.occurrences.count(reading.ts, raw and not track.raw)
            holds = active and count >= rule.occurrences
            if raw != track.raw:
                self._dirty_tracks.add(key)
        track.raw = raw
        self._step(key, track, reading, holds=holds, active=active, names=names, now=now)
        return ""

    def _step(
        self,
        key: TrackKey,
        track: Track,
        reading: Reading,
        *,
        holds: bool,
        active: bool,
        names: Mapping[str, Any],
        now: float,
    ) -> None:
        """The track's lifecycle on one reading. A correlation hears of a rising condition before the
        incident opens and of a falling one after it left, so a fire inhibits its lesser events at once."""
        cr = track.cr
        if holds and not track.holds:
            track.holds = True
            self._holds_changed(key, track)
            self._holding_changed(track, key, reading)
        if track.member:
            ends = not active or (self._eval.holds(cr.clear, names) if cr.clear is not None else not holds)
            if ends:
                self._leave(key, track, reading)
            else:
                self._incidents[track.incident_key].evidence.append(reading)
        elif holds and cr.rule.publish:
            if cr.rule.for_s == 0:
                self._join(key, track, reading)
            elif track.pending_since is None:
                track.pending_since = now
                self._pending[key] = track
                self._dirty_tracks.add(key)
                heapq.heappush(self._deadlines, (now + cr.rule.for_s, key, now))
            elif track.overdue:  # restored: for_s was served while the gateway was down, and it still holds
                self._stop_pending(key, track)
                self._join(key, track, reading)
        elif not holds and track.pending_since is not None:
            self._stop_pending(key, track)
        if track.holds and not holds:
            track.holds = False
            self._holds_changed(key, track)
            self._holding_changed(track, key, reading)

    def _holds_changed(self, key: TrackKey, track: Track) -> None:
        """A track under a timer or an incident is saved with the step; one that only holds (evidence for a
        correlation, a noisy rate flipping) is saved with the next coalesced save: after a crash its
        next reading judges it again."""
        if track.member or track.pending_since is not None:
            self._dirty_tracks.add(key)
        else:
            self._lazy_tracks.add(key)

    def _stop_pending(self, key: TrackKey, track: Track) -> None:
        track.pending_since = None
        track.overdue = False
        del self._pending[key]
        self._dirty_tracks.add(key)

    def _served(self, now: float) -> None:
        """Pending conditions whose `for_s` is served join their incident. Deadlines sit in a heap, so a
        tick costs what is due, not the tens of thousands of ports that are merely charging."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, key, since = heapq.heappop(deadlines)
            track = self._pending.get(key)
            if track is None or track.pending_since != since:
                continue  # cancelled meanwhile: a stale entry
            assert track.last is not None
            self._stop_pending(key, track)
            self._join(key, track, track.last)
        if len(deadlines) > 2 * len(self._pending) + 1024:  # many cancelled: drop the stale entries
            self._deadlines = [
                (t.pending_since + t.cr.rule.for_s, k, t.pending_since)
                for k, t in self._pending.items()
                if t.pending_since is not None
            ]
            heapq.heapify(self._deadlines)

    def _new_track(self, cr: CompiledRule, reading: Reading, site: str) -> Track:
        rule = cr.rule
        subject = {
            GroupBy.POINT: f"{reading.device_id}:{reading.point}",
            GroupBy.DEVICE: reading.device_id,
            GroupBy.SITE: site,
        }[rule.grouping]
        window = Window(rule.window_s) if rule.window_s is not None else None
        return Track(cr, site, f"{rule.id}:{subject}", window, self._occurrences(cr))

    @staticmethod
    def _occurrences(cr: CompiledRule) -> Occurrences | None:
        w = cr.rule.window_s
        return Occurrences(w) if cr.rule.occurrences is not None and w is not None else None

    def _heard(self, reading: Reading, now: float) -> None:
        for cr in self._matched_absence:
            assert cr.rule.match is not None
            if self._matches(cr.rule.match, reading):
                self._seen[(cr.rule.id, reading.device_id)] = now
        keys = self._offline.get(reading.device_id)
        if not keys:
            return
        for key in list(keys):
            incident = self._incidents[key]
            m = incident.cr.rule.match
            if m is None or self._matches(m, reading):
                keys.discard(key)
                if not keys:
                    del self._offline[reading.device_id]
                incident.members.clear()
                self._dirty_incidents.add(key)
                incident.evidence.append(reading)
                self._clear(incident, reading.ts)

    @staticmethod
    def _matches(m: Match, reading: Reading) -> bool:
        return (
            (m.role is None or m.role == reading.role)
            and (m.point is None or m.point == reading.point)
            and (m.device is None or m.device == reading.device_id)
        )

    def _absences(self, now: float) -> None:
        if not self._absence:
            return
        for device_id, facts in self._devices.items():
            for cr in self._absence:
                rule = cr.rule
                after = rule.after_s if rule.after_s is not None else facts.offline_after_s
                if after is None:
                    continue
                last: float | None = facts.last_seen
                if rule.match is not None:
                    last = self._seen.get((rule.id, device_id))
                    if last is None and facts.roles is not None and rule.match.role in facts.roles:
                        last = self._seen[(rule.id, device_id)] = now  # watched from now on
                if last is None or now - last <= after:
                    continue
                key = f"{rule.id}:{device_id}"
                if key in self._incidents:
                    continue
                marker = Reading(device_id, "last_seen", last, now, "s")  # value: when last heard from
                site = facts.site
                incident = self._open(cr, key, site, marker, started_at=last, member=device_id)
                self._offline.setdefault(device_id, set()).add(incident.key)

    def _holding_changed(self, track: Track, key: TrackKey, reading: Reading) -> None:
        rule_id = track.cr.rule.id
        self._holding.update(track.site, rule_id, key, track.holds)
        for corr in self._correlations.get(rule_id, ()):
            self._correlate(corr, track.site, reading)

    def _correlate(self, corr: CompiledRule, site: str, reading: Reading) -> None:
        key = f"{corr.rule.id}:{site}"
        incident = self._incidents.get(key)
        if self._holding.all_hold(site, corr.rule.all_of):
            if incident is None:
                seen = [self._tracks[tk].last for m in corr.rule.all_of for tk in self._holding.members(site, m)]
                evidence = [r for r in seen if r is not None and r is not reading]
                self._open(corr, key, site, reading, started_at=reading.ts, member=site, evidence=evidence)
            elif not incident.members:
                incident.members.add(site)
                incident.clear_since = None
                self._clearing.pop(key, None)
                self._dirty_incidents.add(key)
        elif incident is not None and incident.members:
            incident.members.clear()
            self._dirty_incidents.add(key)
            incident.evidence.append(reading)
            self._clear(incident, reading.ts)

    # -- lifecycle -----------------------------------------------------------------------------------
    def _join(self, key: TrackKey, track: Track, reading: Reading) -> None:
        track.member = True
        self._dirty_tracks.add(key)
        incident = self._incidents.get(track.incident_key)
        if incident is None:
            self._open(track.cr, track.incident_key, track.site, reading, started_at=reading.ts, member=key)
            return
        self._dirty_incidents.add(incident.key)
        new_device = reading.device_id not in incident.devices
        incident.members.add(key)
        incident.devices.add(reading.device_id)
        incident.evidence.append(reading)
        if incident.clear_since is not None:
            incident.clear_since = None
            del self._clearing[incident.key]
        if new_device and incident.alert is not None and self._showable(incident):
            self._publish(incident, EventStatus.UPDATE, reading.ts)  # another device at the site: new evidence

    def _leave(self, key: TrackKey, track: Track, reading: Reading) -> None:
        track.member = False
        self._dirty_tracks.add(key)
        incident = self._incidents[track.incident_key]
        incident.members.discard(key)
        self._dirty_incidents.add(incident.key)
        incident.evidence.append(reading)
        if not incident.members:
            self._clear(incident, reading.ts)

    def _clear(self, incident: Incident, ended_at: float) -> None:
        self._dirty_incidents.add(incident.key)
        if incident.cr.rule.keep_firing_s > 0:
            incident.clear_since = self._clock.now()
            self._clearing[incident.key] = incident
        else:
            self._resolve(incident, ended_at)

    def _open(
        self,
        cr: CompiledRule,
        key: str,
        site: str,
        reading: Reading,
        *,
        started_at: float,
        member: Any,
        evidence: Iterable[Reading] = (),
    ) -> Incident:
        rule = cr.rule
        incident = Incident(
            key=key,
            cr=cr,
            site=site,
            device_id=reading.device_id,
            first=reading,
            started_at=started_at,
            opened_at=self._clock.now(),
            severity=rule.severity,
            level=rule.level,
            members={member},
            devices={reading.device_id},
        )
        incident.evidence.extend(evidence)
        incident.evidence.append(reading)
        self._incidents[key] = incident
        self._at_site.setdefault(site, set()).add(key)
        self._dirty_incidents.add(key)
        self._show(incident)
        return incident

    def _gate(self, incident: Incident) -> Held | None:
        rule = incident.cr.rule
        if self._silences.covers(rule.id, incident.device_id, incident.site, self._clock.now()):
            return Held.SILENCED
        for other_key in self._at_site.get(incident.site, ()):
            other = self._incidents[other_key]
            if other.alert is not None and rule.id in other.cr.rule.inhibits:
                return Held.INHIBITED
        if self._published[rule.id] >= rule.max_open and incident.severity is not Severity.CRITICAL:
            return Held.FLOOD  # critical incidents are never held back by the flood cap
        return None

    def _showable(self, incident: Incident) -> bool:
        now = self._clock.now()
        return not self._silences.covers(incident.cr.rule.id, incident.device_id, incident.site, now)

    def _show(self, incident: Incident) -> None:
        held = self._gate(incident)
        if held is not None:
            if incident.held is None:
                self.counters[f"held_{held.value}"] += 1
            if incident.held is not held:
                self._dirty_incidents.add(incident.key)
            incident.held = held
            self._held[incident.key] = incident
            return
        incident.held = None
        self._held.pop(incident.key, None)
        self._publish(incident, EventStatus.FIRING, incident.evidence[-1].ts)
        self._published[incident.cr.rule.id] += 1
        if incident.cr.rule.inhibits:
            self._supersede(incident)

    def _supersede(self, inhibitor: Incident) -> None:
        """Close the lesser events this one inhibits at its site: one case, not three."""
        assert inhibitor.alert is not None
        for key in list(self._at_site.get(inhibitor.site, ())):
            other = self._incidents[key]
            if other.alert is None or other.cr.rule.id not in inhibitor.cr.rule.inhibits:
                continue
            note = f"Superseded by {inhibitor.cr.rule.category} event {inhibitor.alert.event_id}."
            self._publish(other, EventStatus.RESOLVED, self._clock.now(), ended=True, note=note)
            self._published[other.cr.rule.id] -= 1
            other.alert = None
            other.held = Held.INHIBITED
            self._dirty_incidents.add(key)
            self._held[key] = other
            self.counters["superseded"] += 1

    def _show_held(self) -> None:
        for incident in sorted(self._held.values(), key=lambda i: i.opened_at):
            if incident.key in self._incidents:
                self._show(incident)

    def _resolve(self, incident: Incident, ended_at: float) -> None:
        key = incident.key
        del self._incidents[key]
        self._dirty_incidents.add(key)
        self._at_site[incident.site].discard(key)
        self._clearing.pop(key, None)
        self._held.pop(key, None)
        offline = self._offline.get(incident.device_id)
        if offline is not None:
            offline.discard(key)
            if not offline:
                del self._offline[incident.device_id]
        for member in incident.members:
            track = self._tracks.get(member) if isinstance(member, tuple) else None
            if track is not None:
                track.member = False
                self._dirty_tracks.add(member)
        if incident.alert is None:
            self.counters["resolved_unshown"] += 1
            return
        self._publish(incident, EventStatus.RESOLVED, ended_at, ended=True)
        self._published[incident.cr.rule.id] -= 1
        if self._held:
            self._show_held()

    def _escalate(self, incident: Incident, now: float) -> None:
        e = incident.cr.rule.escalate
        if e is None or incident.escalated or incident.alert is None or now - incident.opened_at < e.after_s:
            return
        if not self._showable(incident):
            return
        incident.escalated = True
        incident.severity = e.severity or incident.severity
        incident.level = e.level or incident.level
        self._publish(incident, EventStatus.UPDATE, now)

    def _publish(
        self, incident: Incident, status: EventStatus, observed_at: float, *, ended: bool = False, note: str = ""
    ) -> None:
        if incident.alert is None:
            facts = self._devices.get(incident.first.device_id)
            labels = facts.labels if facts is not None else {}
            alert = first_revision(incident, labels, self._event_id(), status, observed_at)
        else:
            alert = next_revision(incident, incident.alert, status, observed_at, ended=ended, note=note)
        incident.alert = alert
        self._dirty_incidents.add(incident.key)
        self._out.append(alert)
