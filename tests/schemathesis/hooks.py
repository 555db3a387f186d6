"""Schemathesis hooks for tokendesk (SCHEMATHESIS_HOOKS=tests/schemathesis/hooks.py).

They keep the run able to go on, and teach it what the OpenAPI document says in words only;
they hide nothing the document promises:

- The run's own key is never changed. Every request carries one API key, whose token id is
  SCHEMATHESIS_OWN_TOKEN; a request that would change that token (PUT, DELETE, activate,
  deactivate, rotate, renew, permissions) goes to a token id that does not exist instead, and
  is answered 404. Reading it (GET) is left alone.
- `Idempotency-Key`: the first answer to a key is answered again to the same request, and
  another request with the same key within 24 hours is refused (422, as documented). Generated
  keys repeat ("0", "00"…) across unrelated requests, so each valid key is made unique.
- `format: ip-network`, this API's own format for `allowed_networks`: an IPv4 or IPv6 address,
  or a CIDR block with no bit set past its prefix.
- The account's policy is never made to block the run's key (which has no expiry and no
  allowed networks): a valid `PUT /account/policy` leaves the maximum lifetime unset and
  expiries and networks not required; the other fields are set as generated.
- Rules between values or with the clock, which JSON Schema cannot state: an `expiration_date`
  must be in the future (up to the year 9999), and a usage range runs from `from` to `to`,
  at most 400 days, ending by default today. A valid date outside them is moved within them,
  so that a request the document calls valid is one the API must accept.
"""

import datetime
import ipaddress
import itertools
import os

import schemathesis
from hypothesis import strategies as st

OWN_TOKEN = os.environ["SCHEMATHESIS_OWN_TOKEN"]
# Well formed, and never issued: the token ids of a run are random, and this one is kept out.
ABSENT_TOKEN = "SU-000-000-000"
USAGE_KEPT = datetime.timedelta(days=400)
LATEST = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)
_fresh = itertools.count()


def _network(version, bits):
    return st.builds(
        lambda address, prefix: str(ipaddress.ip_network(f"{address}/{prefix}", strict=False)),
        st.ip_addresses(v=version),
        st.integers(0, bits),
    )


schemathesis.openapi.format(
    "ip-network",
    st.one_of(st.ip_addresses().map(str), _network(4, 32), _network(6, 128)),
)


def _instant(value):
    """The UTC instant a date (its end, as the API reads it) or an RFC 3339 date-time names."""
    if not isinstance(value, str):
        return None
    try:
        day = datetime.date.fromisoformat(value)
        return datetime.datetime.combine(day, datetime.time(23, 59, 59), datetime.timezone.utc)
    except ValueError:
        pass
    try:
        at = datetime.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return at.astimezone(datetime.timezone.utc) if at.tzinfo else None


def _future(value):
    """`value` if it is in the future (up to the year 9999 in UTC), else a date-time a year on."""
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        at = _instant(value)
        if at is None:
            return value
        within = now < at <= LATEST
    except OverflowError:
        within = False
    if within:
        return value
    return (now + datetime.timedelta(days=365)).replace(microsecond=0).isoformat()


def _day(value):
    try:
        return datetime.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _usage_range(query):
    """A valid `from` and `to` within the 400 days a range may span, `to` by default today."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    start, end = _day(query.get("from")), _day(query.get("to"))
    if start is not None and end is None and "to" not in query:
        if not today - USAGE_KEPT <= start <= today:
            query["from"] = (today - datetime.timedelta(days=29)).isoformat()
    elif start is not None and end is not None:
        start, end = min(start, end), max(start, end)
        start = max(start, end - USAGE_KEPT)
        query["from"], query["to"] = start.isoformat(), end.isoformat()


@schemathesis.hook
def before_call(context, case, kwargs):
    parameters = case.path_parameters or {}
    if case.method.upper() != "GET" and parameters.get("id") == OWN_TOKEN:
        parameters["id"] = ABSENT_TOKEN

    # A policy that would block the run's key is set without the rules that would: a valid
    # value of them is replaced by a harmless valid one, an invalid one is left for the API to
    # refuse (so a negative case stays negative, and a positive one positive).
    if case.method.upper() == "PUT" and case.path == "/account/policy" and isinstance(case.body, dict):
        days = case.body.get("max_lifetime_days")
        if isinstance(days, (int, float)) and not isinstance(days, bool) and days == int(days) and 1 <= days <= 3650:
            case.body["max_lifetime_days"] = None
        for field in ("require_expiry", "require_allowed_networks"):
            if case.body.get(field) is True:
                case.body[field] = False

    # An edit makes schemathesis judge the case again against the document alone, where a
    # negative case (a missing Authorization header, say) can pass for a valid one: what
    # follows keeps valid requests valid, so it leaves the others alone.
    if case.meta is not None and not case.meta.generation.mode.is_positive:
        return

    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and 0 < len(key) <= 255 and all("!" <= c <= "~" for c in key):
        headers["Idempotency-Key"] = f"{key[:240]}-{next(_fresh)}"

    if isinstance(case.body, dict) and "expiration_date" in case.body:
        case.body["expiration_date"] = _future(case.body["expiration_date"])

    if case.path.endswith("/usage") and isinstance(case.query, dict):
        _usage_range(case.query)
