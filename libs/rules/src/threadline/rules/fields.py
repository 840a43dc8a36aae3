"""Customer-data fields: what a flow's question (and later the "collect customer data" tool)
accepts as an answer, normalised to one written form, or a hint telling the customer what to send.

A `FieldSpec` names the field (its key in the conversation's `session_data`), its `FieldKind`
and the options of its kind. `validate(spec, text, now, timezone)` is pure: the reference
instant and the business's timezone are passed in, so "tomorrow" means the business's tomorrow.
Values are strings, as `session_data` stores them:

- name: letters (any script), spaces, apostrophes, hyphens, dots; a name written all in one case
  is capitalised ("maria da silva" -> "Maria da Silva", particles kept lower case);
- email: `local@domain.tld`, the domain lower-cased;
- phone: "+" and 8-15 digits (E.164); without "+"/"00" the spec's `country_code` is put in front
  (a trunk "0" dropped), or the digits are taken as already international;
- date: ISO "YYYY-MM-DD"; accepts ISO, day-first "25/12", "25/12/2026", "25-12-26", "25.12",
  "25 de dezembro", "December 25", relative words in English, Portuguese and Spanish
  ("today"/"hoje"/"hoy", "tomorrow"/"amanhã"/"mañana", "day after tomorrow"/"depois de
  amanhã"/"pasado mañana") and weekday names (the next one after today). A date without a year is
  this year's, or next year's once this year's has passed. `future_only` refuses past dates;
- time: "HH:MM" (24 h); accepts "14:30", "14h30", "14h", "14.30", "2pm", "2:30 pm", "noon"/
  "meio-dia"/"mediodía";
- number: a decimal, comma or dot as the separator, within `minimum`/`maximum`, whole when
  `integer` is set; written without trailing zeros ("2,50" -> "2.5");
- choice: one of `options`, by id, title (case- and accent-insensitive) or position ("2");
  the value is the option's id;
- text: any non-empty text up to `max_length` characters.

A refused answer's hint is the spec's own, or the kind's in the flow's language (English,
Portuguese or Spanish; `FieldSpec.hint_in`).

`parse_field(raw, path)` reads a spec from a YAML-loaded mapping and raises `DefinitionError`
naming the path of what is wrong.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from threadline.rules import whatsapp_limits as limits


class DefinitionError(ValueError):
    """A definition (a field, a flow) that cannot be used; the message starts with its path."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


class FieldKind(StrEnum):
    NAME = "name"
    EMAIL = "email"
    PHONE = "phone"
    DATE = "date"
    TIME = "time"
    NUMBER = "number"
    CHOICE = "choice"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Choice:
    """An option of a choice field: the id it is stored (and tapped) as, the title shown."""

    id: str
    title: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    key: str
    kind: FieldKind
    hint: str = ""  # shown when an answer is refused; the kind's in the flow's language if empty
    options: tuple[Choice, ...] = ()  # choice
    future_only: bool = False  # date: refuse dates before today
    country_code: str = ""  # phone: digits put in front of a national number
    minimum: Decimal | None = None  # number
    maximum: Decimal | None = None  # number
    integer: bool = False  # number
    max_length: int = 500  # text, name

    def hint_in(self, language: str) -> str:
        """The hint shown when an answer is refused: the spec's own, or the kind's in
        `language` ("pt_BR" is Portuguese; a language without hints gets English)."""
        if self.hint:
            return self.hint
        hints = HINTS.get(language.split("_")[0].split("-")[0].lower(), HINTS["en"])
        if self.kind is FieldKind.CHOICE:
            return hints["choose"].format(options=", ".join(o.title for o in self.options))
        if self.kind is FieldKind.DATE and self.future_only:
            return hints["future_date"]
        if self.kind is FieldKind.NUMBER:
            low = "" if self.minimum is None else hints["from"].format(_plain(self.minimum))
            high = "" if self.maximum is None else hints["up_to"].format(_plain(self.maximum))
            return hints["number"].format(bounds=low + high)
        return hints[self.kind.value]


# The kinds' hints by language; "choose", "future_date", "from" and "up_to" fill the ones that
# depend on the spec.
HINTS: Final[Mapping[str, Mapping[str, str]]] = {
    "en": {
        "name": "Please send your name, letters only.",
        "email": "Please send an email address like name@example.com.",
        "phone": "Please send a phone number with its country code, like +55 11 91234 5678.",
        "date": "Please send a date like 25/12, 2026-12-25 or tomorrow.",
        "future_date": "Please send a date from today on, like 25/12 or tomorrow.",
        "time": "Please send a time like 14:30 or 2pm.",
        "number": "Please send a number{bounds}.",
        "from": " from {}",
        "up_to": " up to {}",
        "choice": "Please choose one of the options.",
        "choose": "Please choose one of: {options}.",
        "text": "Please send a short text.",
    },
    "pt": {
        "name": "Por favor, envie seu nome, só com letras.",
        "email": "Por favor, envie um e-mail como nome@exemplo.com.",
        "phone": "Por favor, envie um telefone com o código do país, como +55 11 91234 5678.",
        "date": "Por favor, envie uma data como 25/12, 2026-12-25 ou amanhã.",
        "future_date": "Por favor, envie uma data de hoje em diante, como 25/12 ou amanhã.",
        "time": "Por favor, envie um horário como 14:30 ou 14h.",
        "number": "Por favor, envie um número{bounds}.",
        "from": " a partir de {}",
        "up_to": " até {}",
        "choice": "Por favor, escolha uma das opções.",
        "choose": "Por favor, escolha uma destas: {options}.",
        "text": "Por favor, envie um texto curto.",
    },
    "es": {
        "name": "Por favor, envía tu nombre, solo con letras.",
        "email": "Por favor, envía un correo como nombre@ejemplo.com.",
        "phone": "Por favor, envía un teléfono con el código de país, como +34 612 345 678.",
        "date": "Por favor, envía una fecha como 25/12, 2026-12-25 o mañana.",
        "future_date": "Por favor, envía una fecha de hoy en adelante, como 25/12 o mañana.",
        "time": "Por favor, envía una hora como 14:30 o 2pm.",
        "number": "Por favor, envía un número{bounds}.",
        "from": " desde {}",
        "up_to": " hasta {}",
        "choice": "Por favor, elige una de las opciones.",
        "choose": "Por favor, elige una de estas: {options}.",
        "text": "Por favor, envía un texto corto.",
    },
}


@dataclass(frozen=True, slots=True)
class Accepted:
    value: str


@dataclass(frozen=True, slots=True)
class Refused:
    hint: str


Outcome = Accepted | Refused


def validate(
    spec: FieldSpec, text: str, now: datetime, timezone: ZoneInfo, language: str = "en"
) -> Outcome:
    """`text` as the value of `spec`, or why not (in `language`); `now` and `timezone` give
    "today"."""
    text = " ".join(text.split())
    value = _normalise(spec, text, now.astimezone(timezone).date()) if text else None
    return Refused(spec.hint_in(language)) if value is None else Accepted(value)


def _normalise(spec: FieldSpec, text: str, today: date) -> str | None:
    match spec.kind:
        case FieldKind.NAME:
            return _name(text, spec.max_length)
        case FieldKind.EMAIL:
            return _email(text)
        case FieldKind.PHONE:
            return _phone(text, spec.country_code)
        case FieldKind.DATE:
            found = parse_date(text, today)
            if found is None or (spec.future_only and found < today):
                return None
            return found.isoformat()
        case FieldKind.TIME:
            return _time(text)
        case FieldKind.NUMBER:
            return _number(text, spec)
        case FieldKind.CHOICE:
            chosen = choose(spec.options, text)
            return None if chosen is None else chosen.id
        case FieldKind.TEXT:
            return text if len(text) <= spec.max_length else None


# --- name -----------------------------------------------------------------------------------

NAME_PARTICLES: Final = frozenset(
    {"da", "das", "de", "del", "della", "di", "do", "dos", "du", "e", "la", "le", "van", "von", "y"}
)


def _name(text: str, max_length: int) -> str | None:
    if len(text) > max_length or not any(c.isalpha() for c in text):
        return None
    if any(not (c.isalpha() or c in " '\u2019-." or unicodedata.category(c) == "Mn") for c in text):
        return None
    if text != text.lower() and text != text.upper():
        return text  # the customer's own capitalisation
    words = text.lower().split(" ")
    return " ".join(
        w if i and w in NAME_PARTICLES else "-".join(p[:1].upper() + p[1:] for p in w.split("-"))
        for i, w in enumerate(words)
    )


# --- email, phone ---------------------------------------------------------------------------

EMAIL: Final = re.compile(
    r"^([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)$"
)


def _email(text: str) -> str | None:
    found = EMAIL.match(text.strip("<>"))
    if found is None or ".." in text or found.group(2).split(".")[-1].isdigit():
        return None
    return f"{found.group(1)}@{found.group(2).lower()}"


def _phone(text: str, country_code: str) -> str | None:
    if re.fullmatch(r"\+?[\d\s().\-/]+", text) is None:
        return None
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        pass
    elif digits.startswith("00"):
        digits = digits[2:]
    elif country_code:
        digits = re.sub(r"\D", "", country_code) + digits.removeprefix("0")
    return f"+{digits}" if 8 <= len(digits) <= 15 and not digits.startswith("0") else None


# --- date -----------------------------------------------------------------------------------

RELATIVE_DAYS: Final[Mapping[str, int]] = {
    "today": 0,
    "hoje": 0,
    "hoy": 0,
    "tomorrow": 1,
    "amanha": 1,
    "manana": 1,
    "day after tomorrow": 2,
    "the day after tomorrow": 2,
    "depois de amanha": 2,
    "pasado manana": 2,
}
WEEKDAYS: Final[Mapping[str, int]] = {
    **dict.fromkeys(("monday", "mon", "segunda", "segunda-feira", "seg", "lunes", "lun"), 0),
    **dict.fromkeys(("tuesday", "tue", "terca", "terca-feira", "ter", "martes", "mar"), 1),
    **dict.fromkeys(("wednesday", "wed", "quarta", "quarta-feira", "qua", "miercoles"), 2),
    **dict.fromkeys(("thursday", "thu", "quinta", "quinta-feira", "qui", "jueves", "jue"), 3),
    **dict.fromkeys(("friday", "fri", "sexta", "sexta-feira", "sex", "viernes", "vie"), 4),
    **dict.fromkeys(("saturday", "sat", "sabado", "sab"), 5),
    **dict.fromkeys(("sunday", "sun", "domingo", "dom"), 6),
}
MONTHS: Final[Mapping[str, int]] = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan", "janeiro", "enero", "ene"),
            ("february", "feb", "fevereiro", "fev", "febrero"),
            ("march", "marco", "marzo"),
            ("april", "apr", "abril", "abr"),
            ("may", "maio", "mayo"),
            ("june", "jun", "junho", "junio"),
            ("july", "jul", "julho", "julio"),
            ("august", "aug", "agosto", "ago"),
            ("september", "sep", "sept", "setembro", "set", "septiembre", "setiembre"),
            ("october", "oct", "outubro", "out", "octubre"),
            ("november", "nov", "novembro", "noviembre"),
            ("december", "dec", "dezembro", "dez", "diciembre", "dic"),
        ),
        start=1,
    )
    for name in names
}
# Words around a date that say nothing about which day: "on friday", "next monday", "el lunes".
DATE_FILLERS: Final = frozenset(
    {"on", "next", "this", "the", "of", "em", "na", "no", "de", "del", "el", "la", "proxima",
     "proximo", "esta", "este", "a", "feira", "coming", "que", "vem", "viene"}
)  # fmt: skip


def parse_date(text: str, today: date) -> date | None:
    """The day `text` names, seen from `today`; None when it names none (or an impossible one)."""
    words = _plain_words(text)
    phrase = " ".join(words)
    if phrase in RELATIVE_DAYS:
        return today + timedelta(days=RELATIVE_DAYS[phrase])
    if (iso := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", phrase)) is not None:
        return _day(int(iso[1]), int(iso[2]), int(iso[3]))
    if numeric := re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})(?:[/.\-](\d{2}|\d{4}))?", phrase):
        return _dated(int(numeric[1]), int(numeric[2]), numeric[3], today)
    meaningful = [w for w in words if w not in DATE_FILLERS]
    if len(meaningful) == 1 and meaningful[0] in WEEKDAYS:
        ahead = (WEEKDAYS[meaningful[0]] - today.weekday() - 1) % 7 + 1
        return today + timedelta(days=ahead)
    return _named_month(meaningful, today)


def _named_month(words: list[str], today: date) -> date | None:
    """The day of "25 december", "december 25", "25 dezembro 2026" (fillers already dropped)."""
    months = [w for w in words if w in MONTHS]
    numbers = [w.removesuffix(",") for w in words if w not in MONTHS]
    if len(months) != 1 or not 1 <= len(numbers) <= 2 or len(words) != len(numbers) + 1:
        return None
    numbers = [re.sub(r"(st|nd|rd|th|º|o)$", "", n) for n in numbers]
    if not all(n.isdigit() for n in numbers) or len(numbers[0]) > 2:
        return None
    year = numbers[1] if len(numbers) == 2 else None
    return _dated(int(numbers[0]), MONTHS[months[0]], year, today)


def _dated(day: int, month: int, year: str | None, today: date) -> date | None:
    if year is not None:
        full = int(year) + (2000 if len(year) == 2 else 0)
        return _day(full, month, day)
    found = _day(today.year, month, day)
    if found is not None and found < today:
        return _day(today.year + 1, month, day)
    return found if found is not None else _day(today.year + 1, month, day)  # 29/02


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


# --- time -----------------------------------------------------------------------------------

NOON: Final = frozenset({"noon", "midday", "meio-dia", "meio dia", "mediodia"})
TIME: Final = re.compile(r"(\d{1,2})(?:\s*[:h.]\s*(\d{2})?)?\s*([ap]\.?m\.?)?(?:\s*hs?)?")


def _time(text: str) -> str | None:
    phrase = " ".join(_plain_words(text))
    if phrase in NOON:
        return "12:00"
    found = TIME.fullmatch(phrase.removeprefix("at ").removeprefix("as ").removeprefix("a las "))
    if found is None:
        return None
    hour, minute, half = int(found[1]), int(found[2] or 0), (found[3] or "").replace(".", "")
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


# --- number ---------------------------------------------------------------------------------


def _number(text: str, spec: FieldSpec) -> str | None:
    written = text.replace(" ", "")
    if re.fullmatch(r"[+-]?(\d+([.,]\d+)?|[.,]\d+)", written) is None:
        return None
    try:
        number = Decimal(written.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None
    if spec.integer and number != number.to_integral_value():
        return None
    if (spec.minimum is not None and number < spec.minimum) or (
        spec.maximum is not None and number > spec.maximum
    ):
        return None
    return _plain(number)


def _plain(number: Decimal) -> str:
    written = format(number.normalize(), "f")
    return "0" if written in ("-0", "+0") else written


# --- choice ---------------------------------------------------------------------------------


def choose(options: tuple[Choice, ...], text: str) -> Choice | None:
    """The option `text` names by id, title or position (1-based), ignoring case and accents."""
    wanted = " ".join(_plain_words(text))
    for option in options:
        if wanted in (fold(option.id), " ".join(_plain_words(option.title))):
            return option
    if wanted.isdigit() and 1 <= int(wanted) <= len(options):
        return options[int(wanted) - 1]
    return None


# --- words ----------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case without accents: "Mañana" -> "manana", "Amanhã" -> "amanha"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _plain_words(text: str) -> list[str]:
    return fold(text).strip(" .!?,;").split()


# --- definitions ----------------------------------------------------------------------------


def parse_field(raw: object, path: str) -> FieldSpec:
    """A field from a YAML-loaded mapping: `{field: KEY, type: KIND, hint, options, ...}`."""
    fields = mapping(raw, path)
    key = text_at(fields, "field", path, required=True)
    if re.fullmatch(r"[a-z_][a-z0-9_]*", key) is None:
        raise DefinitionError(f"{path}.field", f"'{key}' must be lower_snake_case")
    kind_name = text_at(fields, "type", path) or "text"
    try:
        kind = FieldKind(kind_name)
    except ValueError:
        known = ", ".join(k.value for k in FieldKind)
        raise DefinitionError(f"{path}.type", f"unknown type '{kind_name}' ({known})") from None
    options = _choices(fields.get("options"), f"{path}.options")
    if kind is FieldKind.CHOICE and not options:
        raise DefinitionError(f"{path}.options", "a choice needs options")
    return FieldSpec(
        key=key,
        kind=kind,
        hint=text_at(fields, "hint", path),
        options=options,
        future_only=_flag(fields, "future_only", path),
        country_code=re.sub(r"\D", "", text_at(fields, "country_code", path)),
        minimum=_decimal(fields, "minimum", path),
        maximum=_decimal(fields, "maximum", path),
        integer=_flag(fields, "integer", path),
        max_length=_count(fields, "max_length", path, default=500),
    )


def _choices(raw: object, path: str) -> tuple[Choice, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise DefinitionError(path, "must be a list")
    found: list[Choice] = []
    for index, item in enumerate(raw):
        at = f"{path}[{index}]"
        if isinstance(item, str | int) and not isinstance(item, bool):
            found.append(Choice(str(item), str(item)))
            continue
        option = mapping(item, at)
        title = text_at(option, "title", at, required=True)
        found.append(
            Choice(text_at(option, "id", at) or title, title, text_at(option, "description", at))
        )
    ids = [fold(choice.id) for choice in found]
    if len(set(ids)) != len(ids):
        raise DefinitionError(path, "option ids must be different")
    for index, choice in enumerate(found):
        if len(choice.id) > limits.ROW_ID:  # WhatsApp's limit on what a tap comes back as
            raise DefinitionError(f"{path}[{index}].id", f"at most {limits.ROW_ID} characters")
    return tuple(found)


def mapping(raw: object, path: str) -> Mapping[str, object]:
    if not isinstance(raw, Mapping):
        raise DefinitionError(path, "must be a mapping")
    if any(isinstance(k, bool) for k in raw):
        raise DefinitionError(path, "quote the keys yes, no, on and off (YAML reads them as true)")
    if not all(isinstance(k, str) for k in raw):
        raise DefinitionError(path, "keys must be text")
    return raw


def text_at(fields: Mapping[str, object], key: str, path: str, *, required: bool = False) -> str:
    value = fields.get(key)
    if value is None:
        if required:
            raise DefinitionError(f"{path}.{key}", "is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DefinitionError(f"{path}.{key}", "must be text")
    text = str(value).strip()
    if required and not text:
        raise DefinitionError(f"{path}.{key}", "must not be empty")
    return text


def _flag(fields: Mapping[str, object], key: str, path: str) -> bool:
    value = fields.get(key, False)
    if not isinstance(value, bool):
        raise DefinitionError(f"{path}.{key}", "must be true or false")
    return value


def _count(fields: Mapping[str, object], key: str, path: str, *, default: int) -> int:
    value = fields.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DefinitionError(f"{path}.{key}", "must be a whole number from 1")
    return value


def _decimal(fields: Mapping[str, object], key: str, path: str) -> Decimal | None:
    value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DefinitionError(f"{path}.{key}", "must be a number")
    return Decimal(str(value))
