"""Realistic tool arguments and results, drawn from a seeded random generator.

Each ``*_call`` function draws one call of a tool: ``(arguments, result)``, both JSON-able.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

ToolCallFactory = Callable[[random.Random], tuple[dict[str, Any], dict[str, Any]]]


CITIES = ("Paris", "Lisbon", "Oslo", "Nairobi", "Osaka", "Lima", "Montreal", "Hanoi")
TOPICS = (
    "vector databases",
    "solid-state batteries",
    "OpenTelemetry sampling",
    "carbon capture costs",
    "RISC-V adoption",
    "urban heat islands",
)
_PROSE = (
    "The figures come from the most recent data available at the time of the request.",
    "Values are rounded to one decimal place for readability.",
    "Some sources disagree slightly, so the range rather than a single number is shown.",
    "The service cached this answer for five minutes to avoid repeated lookups.",
    "No personal data was needed to answer this request.",
    "The underlying records were last reconciled during the nightly batch.",
    "If you need the raw numbers, ask for the detailed breakdown.",
    "Forecasts beyond three days carry noticeably more uncertainty.",
    "Everything shown here is consistent with the account's current settings.",
    "Several of the sources were published within the last quarter.",
    "A follow-up check found no conflicting entries for the same period.",
    "Units follow the customer's locale unless they asked otherwise.",
)


def prose(rng: random.Random, min_chars: int, max_chars: int) -> str:
    target = rng.randint(min_chars, max_chars)
    sentences: list[str] = []
    while sum(len(s) + 1 for s in sentences) < target:
        sentences.append(rng.choice(_PROSE))
    return " ".join(sentences)


def ident(rng: random.Random, prefix: str, length: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


def weather_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    city = rng.choice(CITIES)
    result = {
        "city": city,
        "temperature_c": round(rng.uniform(-8, 36), 1),
        "conditions": rng.choice(("sunny", "overcast", "light rain", "snow showers", "windy")),
        "humidity_pct": rng.randint(20, 95),
        "notes": prose(rng, 80, 400),
    }
    return {"city": city}, result


def forecast_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    city, days = rng.choice(CITIES), rng.randint(2, 5)
    daily = [
        {"day": day + 1, "high_c": round(rng.uniform(0, 35), 1), "rain_pct": rng.randint(0, 90)}
        for day in range(days)
    ]
    return {"city": city, "days": days}, {"city": city, "daily": daily}


def convert_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    celsius = round(rng.uniform(-10, 38), 1)
    return {"value": celsius, "from": "C", "to": "F"}, {"value": round(celsius * 9 / 5 + 32, 1)}


def search_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    topic = rng.choice(TOPICS)
    hits = [
        {
            "title": f"{topic.title()}: notes {n + 1}",
            "url": f"https://example.org/{topic.replace(' ', '-')}/{rng.randint(100, 999)}",
            "snippet": prose(rng, 60, 200),
        }
        for n in range(rng.randint(2, 4))
    ]
    return {"query": topic, "max_results": 5}, {"results": hits}


def fetch_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    url = f"https://example.org/{rng.choice(TOPICS).replace(' ', '-')}/{rng.randint(100, 999)}"
    return {"url": url}, {"status": 200, "text": prose(rng, 200, 700)}


def citations_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    count = rng.randint(1, 4)
    return (
        {"document_id": ident(rng, "doc_", 10)},
        {"citations": [f"[{n + 1}] example.org, {rng.randint(2019, 2025)}" for n in range(count)]},
    )


def customer_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    customer_id = f"cus_{rng.randint(10000, 99999)}"
    return {"customer_id": customer_id}, {
        "customer_id": customer_id,
        "plan": rng.choice(("starter", "team", "enterprise")),
        "balance_eur": round(rng.uniform(0, 900), 2),
        "notes": prose(rng, 60, 300),
    }


def invoice_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    invoice_id = f"INV-{rng.randint(2024000, 2025999)}"
    return {"invoice_id": invoice_id}, {
        "invoice_id": invoice_id,
        "amount_eur": round(rng.uniform(19, 2400), 2),
        "status": rng.choice(("paid", "open", "overdue")),
        "lines": rng.randint(1, 12),
    }


def refund_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    amount = round(rng.uniform(5, 480), 2)
    invoice_id = f"INV-{rng.randint(2024000, 2025999)}"
    return {"invoice_id": invoice_id, "amount_eur": amount}, {
        "refund_id": ident(rng, "re_", 14),
        "amount_eur": amount,
        "state": "submitted",
    }


def kb_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    subject = rng.choice(("password reset", "invoice copy", "SSO setup", "data export"))
    return {"query": subject}, {
        "articles": [{"id": f"KB-{rng.randint(100, 999)}", "excerpt": prose(rng, 80, 300)}]
    }


def ticket_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    priority = rng.choice(("low", "normal", "high"))
    return {"summary": prose(rng, 40, 120), "priority": priority}, {
        "ticket_id": f"SUP-{rng.randint(1000, 9999)}",
        "priority": priority,
    }


def flights_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    origin, destination = rng.sample(CITIES, 2)
    offers = [
        {
            "flight": ident(rng, "", 2).upper() + str(rng.randint(100, 999)),
            "eur": rng.randint(60, 900),
        }
        for _ in range(rng.randint(1, 4))
    ]
    return {"origin": origin, "destination": destination, "date": "2025-06-14"}, {"offers": offers}


def hotel_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    city, nights = rng.choice(CITIES), rng.randint(1, 6)
    return {"city": city, "nights": nights}, {
        "booking_id": ident(rng, "bk_", 10),
        "total_eur": nights * rng.randint(70, 260),
    }


def docs_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"query": rng.choice(TOPICS)}, {"passages": [prose(rng, 100, 500)]}


def sql_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    table = rng.choice(("orders", "sessions", "events"))
    return {"query": f"select count(*) from {table} where created_at > now() - interval '1 day'"}, {
        "rows": [[rng.randint(0, 50000)]]
    }


def email_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"to": f"user{rng.randint(1, 999)}@example.com", "subject": "Your request"}, {
        "message_id": ident(rng, "msg_", 16)
    }
