"""Pick-SEQUENCE vectors for rr, lc, wlc, sed, nq and dh, derived by hand from the kernel rules.

Reference: /work/shared/reference/ipvs.md.  ipvs.md §F gives sequences for wrr (F1), sh (F6) and
mh (F7) but only single picks for lc/wlc/sed/nq (F2-F5); these tests fill that gap.

Model of a run: every successful pick opens a TCP connection on the chosen dest
(``conn_opened``: bind, then the first SYN moves NONE -> SYN_RECV, an active state, so
``activeconns += 1``; §C).  Between picks some connections go inactive (``set_active(c, False)``,
e.g. FIN -> CLOSE_WAIT) or close (``conn_closed`` = unbind, which re-runs the OVERLOAD clear rule,
§0.4).  The whole sequence of picked dests is asserted; ``-`` is a failed pick.

Every vector below was worked out by hand from the rules, not by running the schedulers; the
comment next to each step shows the arithmetic so a reader can re-check it:

* lc (§3): least ``oh = (act << 8) + inact`` with strict ``<``; weight 0 / OVERLOAD skipped.
* wlc (§4): seed = first dest not OVERLOAD with weight > 0; a later non-OVERLOAD dest ``d``
  replaces ``least`` iff ``loh * w(d) > doh * w(least)`` (strict, so ties keep the earlier dest).
* sed (§5): wlc with ``oh = act + 1``.
* nq (§6): the first dest with ``act == 0`` (not OVERLOAD, weight > 0) is returned at once;
  otherwise sed's comparison.
* rr (§1): next eligible dest after ``pos`` with wrap; weights other than 0 ignored.
* dh (§7): bucket ``hash_32(fold(daddr), 8)`` of a table ``bucket[i] = dests[i % n]``.

Notation in comments: ``A2/1`` = A has overhead 2 and weight 1; for lc/wlc, ``A(a,i)`` =
A has ``a`` active and ``i`` inactive connections.
"""

from __future__ import annotations

from svcnet.proxy.schedulers import IP_VS_DEST_F_OVERLOAD, VirtualService

VIP = "10.96.0.10"
CLIENT = "192.0.2.1"


def build(sched: str, spec: list[tuple[str, int]]) -> VirtualService:
    """A service whose kernel list order is ``spec`` = [(name, weight), ...].

    Dests are added in reverse (the kernel links each new dest at the head), so the list ends up
    in spec order.  Dest i is 10.0.0.(i+1):80.
    """
    svc = VirtualService(VIP, 80, "TCP", sched)
    for i in reversed(range(len(spec))):
        name, weight = spec[i]
        svc.add_dest(f"10.0.0.{i + 1}", 80, weight, key=name)
    assert [d.key for d in svc.dests] == [name for name, _ in spec]
    return svc


class Run:
    """Drives a service: picks open TCP connections; events deactivate or close them."""

    def __init__(self, svc: VirtualService) -> None:
        self.svc = svc
        self.conns: dict[str, list] = {d.key: [] for d in svc.dests}
        self.seq = ""

    def dest(self, key: str):
        return next(d for d in self.svc.dests if d.key == key)

    def pick(self, n: int = 1, *, dst_addr: str | None = None) -> str:
        out = ""
        for _ in range(n):
            d = self.svc.schedule(CLIENT, dst_addr=dst_addr)
            if d is None:
                out += "-"
                continue
            self.conns[d.key].append(self.svc.conn_opened(d))  # TCP: activeconns += 1
            out += d.key
        self.seq += out
        return out

    def deactivate(self, key: str, k: int) -> None:
        """Move ``k`` of ``key``'s active connections to inactive (e.g. FIN -> CLOSE_WAIT)."""
        active = [c for c in self.conns[key] if c.bound and not c.inactive]
        for c in active[:k]:
            self.svc.set_active(c, False)

    def close(self, key: str, k: int = 1) -> None:
        """Expire ``k`` of ``key``'s connections, oldest first (unbind + OVERLOAD clear rule)."""
        live = [c for c in self.conns[key] if c.bound]
        for c in live[:k]:
            self.svc.conn_closed(c)

    def counts(self) -> dict[str, tuple[int, int]]:
        return {d.key: (d.activeconns, d.inactconns) for d in self.svc.dests}


# --- lc ---------------------------------------------------------------------------------------


def test_lc_sequence_ties_weight0_inactive_overload():
    # [A w1, B w0, C w3, D w1 u_threshold=2]; lc ignores weights except 0 (B is never picked).
    svc = build("lc", [("A", 1), ("B", 0), ("C", 3), ("D", 1)])
    svc.edit_dest(svc.dests[3], u_threshold=2)
    r = Run(svc)
    # p1  A0  C0  D0          -> A (tie, first)            A(1,0)
    # p2  A256 C0  D0         -> C (B w0 skipped)          C(1,0)
    # p3  A256 C256 D0        -> D                         D(1,0)
    # p4  A256 C256 D256      -> A (3-way tie, first)      A(2,0)
    # p5  A512 C256 D256      -> C (C ties D, C first)     C(2,0)
    assert r.pick(5) == "ACDAC"
    r.deactivate("A", 2)  # A(0,2): oh 2
    # p6  A2   C512 D256      -> A                         A(1,2) = 258
    # p7  A258 C512 D256      -> D (256 < 258)             D(2,0): total 2 >= u 2 -> OVERLOAD
    assert r.pick(2) == "AD"
    assert svc.dests[3].overloaded
    r.close("C")  # C(1,0): oh 256
    # p8  A258 C256 D--       -> C                         C(2,0)
    # p9  A258 C512 D--       -> A                         A(2,2) = 514
    # p10 A514 C512 D--       -> C                         C(3,0) = 768
    # p11 A514 C768 D--       -> A (D at 512 would win, but it is OVERLOAD)   A(3,2) = 770
    # p12 A770 C768 D--       -> C                         C(4,0) = 1024
    assert r.pick(5) == "CACAC"
    r.close("D")  # D(1,0): total 1, 1*4 < 2*3 -> OVERLOAD cleared
    # p13 A770 C1024 D256     -> D                         D(2,0) -> OVERLOAD again
    assert r.pick(1) == "D"
    assert r.seq == "ACDAC" "AD" "CACAC" "D"
    assert r.counts() == {"A": (3, 2), "B": (0, 0), "C": (4, 0), "D": (2, 0)}


# --- wlc --------------------------------------------------------------------------------------


def test_wlc_sequence_converges_to_weight_ratio():
    # [A w2, B w3, C w1], only active conns, so oh = 256*act and the 256 cancels in
    # loh*w(d) > doh*w(least): compare act(least)*w(d) > act(d)*w(least).
    svc = build("wlc", [("A", 2), ("B", 3), ("C", 1)])
    r = Run(svc)
    # p1  A0 B0 C0: seed A; B 0*3>0*2 no; C no                         -> A   A1
    # p2  seed A(1); B 1*3=3>0*2=0 yes -> B(0); C 0*1>0*3 no           -> B   B1
    # p3  seed A(1); B 1*3=3>1*2=2 yes -> B(1); C 1*1=1>0*3=0 yes      -> C   C1
    # p4  A1 B1 C1: B 1*3=3>1*2=2 yes -> B(1); C 1*1=1>1*3=3 no        -> B   B2
    # p5  A1 B2 C1: B 1*3=3>2*2=4 no; C 1*1=1>1*2=2 no                 -> A   A2
    # p6  A2 B2 C1: B 2*3=6>2*2=4 yes -> B(2); C 2*1=2>1*3=3 no        -> B   B3
    # (after 6 picks A2 B3 C1 = exactly 2:3:1)
    # p7  A2 B3 C1: B 2*3=6>3*2=6 no (tie); C 2*1=2>1*2=2 no (tie)     -> A   A3
    # p8  A3 B3 C1: B 3*3=9>3*2=6 yes -> B(3); C 3*1=3>1*3=3 no (tie)  -> B   B4
    # p9  A3 B4 C1: B 3*3=9>4*2=8 yes -> B(4); C 4*1=4>1*3=3 yes       -> C   C2
    # p10 A3 B4 C2: B 9>8 yes -> B(4); C 4*1=4>2*3=6 no                -> B   B5
    # p11 A3 B5 C2: B 3*3=9>5*2=10 no; C 3*1=3>2*2=4 no                -> A   A4
    # p12 A4 B5 C2: B 4*3=12>5*2=10 yes -> B(5); C 5*1=5>2*3=6 no      -> B   B6
    assert r.pick(12) == "ABCBAB" "ABCBAB"
    assert r.counts() == {"A": (4, 0), "B": (6, 0), "C": (2, 0)}  # 2:3:1 after 12 picks


def test_wlc_sequence_weight0_overload_inactive_and_close():
    # [Z w0, A w1, O w4 u_threshold=2, B w2, Y w0]; oh = 256*act + inact.
    # Z (head, weight 0) is never the seed; Y (weight 0, idle) never wins: loh*0 > doh*w is false.
    svc = build("wlc", [("Z", 0), ("A", 1), ("O", 4), ("B", 2), ("Y", 0)])
    svc.edit_dest(svc.dests[2], u_threshold=2)
    r = Run(svc)
    # p1 all 0: seed A(0,w1); O 0*4>0*1 no; B no; Y no                   -> A   A(1,0)=256
    # p2 seed A256; O 256*4=1024>0*1 yes -> O(0,w4); B 0*2>0*4 no         -> O   O(1,0)
    # p3 seed A256; O 1024>256*1=256 yes -> O(256,w4); B 256*2=512>0 yes  -> B   B(1,0)
    # p4 A256 O256 B256: O 1024>256 yes -> O; B 256*2=512>256*4=1024 no  -> O   O(2,0): OVERLOAD
    # p5 A256 B256 (O skipped): B 256*2=512>256*1=256 yes                 -> B   B(2,0)=512
    # p6 A256 B512: B 256*2=512>512*1=512 no (tie, A first)               -> A   A(2,0)=512
    assert r.pick(6) == "AOBOBA"
    assert svc.dests[2].overloaded
    r.deactivate("A", 1)  # A(1,1) = 257
    # p7 A257 B512: B 257*2=514>512*1=512 yes                             -> B   B(3,0)=768
    # p8 A257 B768: B 514>768 no                                          -> A   A(2,1)=513
    assert r.pick(2) == "BA"
    r.close("O")  # O(1,0): total 1, 1*4 < 2*3 -> OVERLOAD cleared
    # p9  seed A513; O 513*4=2052>256*1 yes -> O(256,w4); B 256*2=512>768*4 no -> O  O(2,0): OVERLOAD
    # p10 A513 B768: B 513*2=1026>768 yes                                 -> B   B(4,0)=1024
    # p11 A513 B1024: B 1026>1024 yes (A's one inactive conn tips it)     -> B   B(5,0)=1280
    # p12 A513 B1280: B 1026>1280 no                                      -> A   A(3,1)
    assert r.pick(4) == "OBBA"
    assert r.seq == "AOBOBA" "BA" "OBBA"
    assert r.counts() == {
        "Z": (0, 0), "A": (3, 1), "O": (2, 0), "B": (5, 0), "Y": (0, 0),
    }


# --- sed --------------------------------------------------------------------------------------


def test_sed_sequence_ties_weight0_inactive_ignored_overload():
    # [A w1, B w3, Z w0, C w2]; oh = act + 1 (inactive conns ignored).
    svc = build("sed", [("A", 1), ("B", 3), ("Z", 0), ("C", 2)])
    r = Run(svc)
    # p1 A1/1 B1/3 C1/2: seed A; B 1*3=3>1*1=1 yes -> B; Z 1*0>1*3 no; C 1*2=2>1*3=3 no  -> B  B act1
    # p2 A1 B2 C1: B 1*3=3>2*1=2 yes -> B(2); C 2*2=4>1*3=3 yes                 -> C  C act1
    # p3 A1 B2 C2: B 3>2 yes -> B(2); C 2*2=4>2*3=6 no                          -> B  B act2
    # p4 A1 B3 C2: B 1*3=3>3*1=3 no; C 1*2=2>2*1=2 no (3-way tie of delay 1)   -> A  A act1
    # p5 A2 B3 C2: B 2*3=6>3*1=3 yes -> B(3); C 3*2=6>2*3=6 no (tie, B first)   -> B  B act3
    # p6 A2 B4 C2: B 6>4 yes -> B(4); C 4*2=8>2*3=6 yes                         -> C  C act2
    assert r.pick(6) == "BCBABC"
    r.deactivate("B", 3)  # B act0 inact3: sed sees oh 1
    # p7  A2 B1 C3: B 2*3=6>1*1 yes -> B(1); C 1*2=2>3*3=9 no                   -> B  B act1
    # p8  A2 B2 C3: B 6>2 yes -> B(2); C 2*2=4>9 no                              -> B  B act2
    # p9  A2 B3 C3: B 6>3 yes -> B(3); C 3*2=6>9 no                              -> B  B act3
    # p10 A2 B4 C3: B 6>4 yes -> B(4); C 4*2=8>9 no                              -> B  B act4
    # p11 A2 B5 C3: B 6>5 yes -> B(5); C 5*2=10>3*3=9 yes                        -> C  C act3
    assert r.pick(5) == "BBBBC"
    svc.dests[1].flags |= IP_VS_DEST_F_OVERLOAD  # B skipped from now on
    # p12 A2/1 C4/2: C 2*2=4>4*1=4 no (tie)                                      -> A
    #     (without OVERLOAD: B 2*3=6>5*1 yes -> B(5); C 5*2=10>4*3=12 no -> B)
    assert r.pick(1) == "A"
    assert r.seq == "BCBABC" "BBBBC" "A"
    assert r.counts() == {"A": (2, 0), "B": (4, 3), "Z": (0, 0), "C": (3, 0)}


# --- nq ---------------------------------------------------------------------------------------


def test_nq_sequence_idle_before_faster_busy():
    # [F w4, S w1, Z w0, T w1 u_threshold=1]; oh = act + 1; an idle eligible dest wins at once.
    svc = build("nq", [("F", 4), ("S", 1), ("Z", 0), ("T", 1)])
    svc.edit_dest(svc.dests[3], u_threshold=1)
    r = Run(svc)
    # p1 F idle                                              -> F   F act1
    # p2 F busy: least F2/4; S idle -> return S               -> S   S act1
    #    (sed would keep F: S 2*1=2 > 1*4=4 is false; nq takes the idle slow dest)
    # p3 least F2/4; S 2*1=2>2*4=8 no; Z idle but w0 skipped; T idle -> T   T act1: total 1 >= 1, OVERLOAD
    # p4 least F2/4; S 2>8 no; Z skip; T OVERLOAD skip        -> F   F act2
    # p5 least F3/4; S 3*1=3>2*4=8 no                          -> F   F act3
    assert r.pick(5) == "FSTFF"
    assert svc.dests[3].overloaded
    r.close("S")  # S idle again
    # p6 least F4/4; S idle -> S  (sed: S 4*1=4>1*4=4 no -> F)  -> S   S act1
    assert r.pick(1) == "S"
    r.close("T")  # T total 0: 0*4 < 1*3 -> OVERLOAD cleared, T idle
    # p7 least F4/4; S 4*1=4>2*4=8 no; Z skip; T idle         -> T   T act1: OVERLOAD again
    assert r.pick(1) == "T"
    r.deactivate("F", 3)  # F act0 inact3: idle for nq (inactive conns ignored)
    # p8 F idle (first in list)                               -> F   F act1
    # p9 least F2/4; S 2*1=2>2*4=8 no; T OVERLOAD             -> F   F act2
    assert r.pick(2) == "FF"
    assert r.seq == "FSTFF" "S" "T" "FF"
    assert r.counts() == {"F": (2, 3), "S": (1, 0), "Z": (0, 0), "T": (1, 0)}


# --- rr ---------------------------------------------------------------------------------------


def test_rr_sequence_load_ignored_weight0_and_overload():
    # [A w1, B w0, C w5 u_threshold=2, D w1]; rr ignores load and any weight other than 0.
    svc = build("rr", [("A", 1), ("B", 0), ("C", 5), ("D", 1)])
    svc.edit_dest(svc.dests[2], u_threshold=2)
    r = Run(svc)
    # pos=HEAD. p1 A. p2 after A: B w0 skip, C (total 1). p3 D. p4 wrap: A.
    # p5 B skip, C (total 2 >= 2: OVERLOAD). p6 D. p7 A. p8 B skip, C OVERLOAD skip, D. p9 A.
    assert r.pick(9) == "ACDACDADA"
    r.close("C")  # total 1: 1*4 < 2*3 -> OVERLOAD cleared
    # p10 after A: B skip, C (OVERLOAD again). p11 D. p12 A.
    assert r.pick(3) == "CDA"
    assert r.seq == "ACDACDADA" "CDA"


# --- dh ---------------------------------------------------------------------------------------


def test_dh_sequence_by_destination_address():
    # [A, B, C] all w1: bucket i -> dests[i % 3] (weights ignored).
    # hash_32(fold, 8) = high byte of (fold * 0x61C88647) mod 2^32, fold(10.0.0.x) = 0x0A000000 + x.
    #   0x0A000000 * G mod 2^32 = (low byte of 0x0A * 0x47 = 0x2C6 -> 0xC6) << 24 = 0xC6000000
    #   x=1: 0xC6000000 + 0x61C88647 = 0x(1)27C88647 -> 0x27 =  39, 39 % 3 = 0 -> A
    #   x=2: 2G = 0xC3910C8E;   + 0xC6000000 = 0x(1)89910C8E -> 0x89 = 137, 137 % 3 = 2 -> C
    #   x=3: 3G = 0x(1)255992D5; + 0xC6000000 = 0xEB5992D5    -> 0xEB = 235, 235 % 3 = 1 -> B
    #   x=4: 4G = 0x(1)8722191C; + 0xC6000000 = 0x(1)4D22191C -> 0x4D =  77,  77 % 3 = 2 -> C
    svc = build("dh", [("A", 1), ("B", 1), ("C", 1)])
    r = Run(svc)
    daddrs = [f"10.0.0.{x}" for x in (1, 2, 3, 4, 1, 2)]
    for daddr in daddrs:
        r.pick(dst_addr=daddr)  # each pick opens a connection: dh ignores the load
    assert r.seq == "ACBCAC"
    svc.edit_dest(svc.dests[2], weight=0)  # C quiesced; dh has no upd hook, table unchanged
    svc.dests[1].flags |= IP_VS_DEST_F_OVERLOAD  # B overloaded
    # no fallback: C's buckets (x=2, x=4) and B's bucket (x=3) fail; A's (x=1) still works
    for daddr in [f"10.0.0.{x}" for x in (1, 2, 3, 4)]:
        r.pick(dst_addr=daddr)
    assert r.seq == "ACBCAC" "A---"
