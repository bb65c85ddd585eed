"""Case tables in zone-file text, CoreDNS ``plugin/test`` style (``test.Case`` + ``SortAndCheck``).

A :class:`Case` names the question, the rcode and each section's RRs as zone-file lines.
:func:`check` compares a response with it: sections compared as sorted lists of normalised
lines, owner-name case included (so case preservation is checked), SOA serials ignored (the
upstream tests do not compare them either), CNAMEs required before their targets
(``test.CNAMEOrder``), AA=1 and RA=0 for authoritative answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from svcnet.dns.answer import Forward, NeedUpstream, answer


@dataclass(frozen=True)
class Case:
    qname: str
    qtype: str
    rcode: str = "NOERROR"
    answer: tuple[str, ...] = ()
    ns: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    truncated: bool = False
    authoritative: bool = True

    def query(self, *, edns: bool = False) -> dns.message.Message:
        return dns.message.make_query(self.qname, self.qtype, use_edns=0 if edns else None)


def norm(line: str) -> str:
    tok = line.split()
    if len(tok) > 3 and tok[3] == "SOA":
        tok[6] = "<serial>"
    if not tok[0].endswith("."):
        tok[0] += "."
    return " ".join(tok)


def rr_lines(section) -> list[str]:
    out = []
    for rrset in section:
        for rd in rrset:
            out.append(norm(f"{rrset.name.to_text()} {rrset.ttl} IN {dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}"))
    return out


def soa(zone: str = "cluster.local.", ttl: int = 5, minimum: int = 5) -> str:
    return f"{zone} {ttl} IN SOA ns.dns.{zone} hostmaster.{zone} 0 7200 1800 86400 {minimum}"


SOA5 = soa()


def check(resp: dns.message.Message, case: Case) -> None:
    assert dns.rcode.to_text(resp.rcode()) == case.rcode, f"{case.qname} {case.qtype}: rcode {dns.rcode.to_text(resp.rcode())}"
    assert bool(resp.flags & dns.flags.AA) == case.authoritative, "AA flag"
    assert not resp.flags & dns.flags.RA, "RA must not be set"
    assert bool(resp.flags & dns.flags.TC) == case.truncated, "TC flag"
    answer_lines = rr_lines(resp.answer)
    # test.CNAMEOrder: a CNAME must come before the records of its target
    for i, line in enumerate(answer_lines):
        tok = line.split()
        if tok[3] == "CNAME":
            target = tok[4].lower()
            assert all(other.split()[0].lower() != target for other in answer_lines[:i]), "CNAME after its target"
    assert sorted(answer_lines) == sorted(norm(x) for x in case.answer), f"{case.qname} {case.qtype}: answer"
    assert sorted(rr_lines(resp.authority)) == sorted(norm(x) for x in case.ns), f"{case.qname} {case.qtype}: authority"
    assert sorted(rr_lines(resp.additional)) == sorted(norm(x) for x in case.extra), f"{case.qname} {case.qtype}: additional"


def ask(index, config, case: Case, upstream=None, *, edns: bool = False):
    """Run the pure answer(); drive a NeedUpstream with ``upstream(qname, qtype) -> Message|None``."""
    result = answer(index, config, case.query(edns=edns))
    if isinstance(result, NeedUpstream):
        assert upstream is not None, "unexpected upstream lookup"
        return result.result(upstream(result.qname, result.qtype))
    if isinstance(result, Forward):
        return result
    return result


def upstream_reply(qname, qtype, rrs: tuple[str, ...], *, truncated=False, rcode=dns.rcode.NOERROR):
    """A reply as an upstream resolver would send it."""
    q = dns.message.make_query(qname, qtype)
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    if truncated:
        r.flags |= dns.flags.TC
    for line in rrs:
        tok = line.split()
        r.find_rrset(r.answer, dns.name.from_text(tok[0]), dns.rdataclass.IN, dns.rdatatype.from_text(tok[3]),
                     create=True).add(dns.rdata.from_text("IN", tok[3], " ".join(tok[4:])), int(tok[1]))
    return r

