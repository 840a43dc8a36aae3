"""The offline assistant's fixed sentences in the languages it writes (en, pt, es, de, ar), and
the cheap guess of which of them a text is in.

`guess_language` counts common words of each language (and letters only one of them uses); a
text in Arabic script is Arabic. It answers "" when nothing tells the languages apart (a
number, a name, an emoji): the caller then falls back to what else it knows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ENGLISH",
    "PHRASES",
    "Phrases",
    "guess_language",
    "is_greeting",
    "is_thanks",
    "phrases_for",
    "written",
]

ENGLISH: Final = "en"


@dataclass(frozen=True, slots=True)
class Phrases:
    """What the offline assistant says in one language: the word before a passage's source,
    that it has no answer (and a person will follow), that it is offline (no knowledge bases),
    the body and button of the list of the closest questions, its last row (a person), and
    what it says when that row is tapped; what it answers a greeting (above the list of the
    knowledge base's questions) and thanks."""

    source: str
    do_not_know: str
    offline: str
    closest: str
    closest_button: str
    person_row: str
    person: str
    greeting: str
    welcome: str


PHRASES: Final[Mapping[str, Phrases]] = {
    "en": Phrases(
        source="Source",
        do_not_know=(
            "I'm sorry, I don't know the answer to that. A member of our team will get back to you."
        ),
        offline=(
            "Thanks for your message. Our assistant is offline right now; "
            "a member of our team will get back to you."
        ),
        closest="I'm not sure I understood. Is it one of these questions?",
        closest_button="See questions",
        person_row="Talk to a person",
        person="Of course. A member of our team will get back to you here.",
        greeting="Hello! How can I help? Here are some of the questions I can answer.",
        welcome="You're welcome! Anything else, just write.",
    ),
    "pt": Phrases(
        source="Fonte",
        do_not_know=(
            "Desculpe, não sei responder a isso. Alguém da nossa equipa vai responder em breve."
        ),
        offline=(
            "Obrigado pela sua mensagem. O nosso assistente está offline neste momento; "
            "alguém da nossa equipa vai responder em breve."
        ),
        closest="Não sei se entendi bem. É uma destas perguntas?",
        closest_button="Ver perguntas",
        person_row="Falar com uma pessoa",
        person="Claro. Alguém da nossa equipa vai responder aqui em breve.",
        greeting="Olá! Em que posso ajudar? Estas são algumas das perguntas a que sei responder.",
        welcome="De nada! Se precisar de mais alguma coisa, é só escrever.",
    ),
    "es": Phrases(
        source="Fuente",
        do_not_know=(
            "Lo siento, no sé la respuesta a eso. "
            "Una persona de nuestro equipo te responderá pronto."
        ),
        offline=(
            "Gracias por tu mensaje. Nuestro asistente no está disponible ahora; "
            "una persona de nuestro equipo te responderá pronto."
        ),
        closest="No estoy seguro de haberte entendido. ¿Es una de estas preguntas?",
        closest_button="Ver preguntas",
        person_row="Hablar con una persona",
        person="Claro. Una persona de nuestro equipo te responderá aquí pronto.",
        greeting="¡Hola! ¿En qué puedo ayudarte? Estas son algunas preguntas que sé responder.",
        welcome="¡De nada! Si necesitas algo más, solo escribe.",
    ),
    "de": Phrases(
        source="Quelle",
        do_not_know=(
            "Das weiß ich leider nicht. Jemand aus unserem Team meldet sich bald bei Ihnen."
        ),
        offline=(
            "Danke für Ihre Nachricht. Unser Assistent ist gerade offline; "
            "jemand aus unserem Team meldet sich bald bei Ihnen."
        ),
        closest="Ich bin nicht sicher, ob ich Sie verstanden habe. Ist es eine dieser Fragen?",
        closest_button="Fragen ansehen",
        person_row="Mit jemandem sprechen",
        person="Gern. Jemand aus unserem Team meldet sich hier bald bei Ihnen.",
        greeting="Hallo! Wie kann ich helfen? Das sind einige Fragen, die ich beantworten kann.",
        welcome="Gern geschehen! Wenn Sie noch etwas brauchen, schreiben Sie einfach.",
    ),
    "ar": Phrases(
        source="المصدر",
        do_not_know="عذرًا، لا أعرف الإجابة عن ذلك. سيتواصل معك أحد أعضاء فريقنا قريبًا.",
        offline="شكرًا على رسالتك. مساعدنا غير متصل الآن؛ سيتواصل معك أحد أعضاء فريقنا قريبًا.",
        closest="لست متأكدًا أنني فهمت. هل سؤالك أحد هذه الأسئلة؟",
        closest_button="عرض الأسئلة",
        person_row="التحدث إلى شخص",
        person="بالتأكيد. سيتواصل معك أحد أعضاء فريقنا هنا قريبًا.",
        greeting="مرحبًا! كيف يمكنني المساعدة؟ هذه بعض الأسئلة التي يمكنني الإجابة عنها.",
        welcome="على الرحب والسعة! إذا احتجت أي شيء آخر، فقط اكتب.",
    ),
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Common words, each counted once a text; words two languages share count for both.
_WORDS: Final[Mapping[str, frozenset[str]]] = {
    "en": _words(
        "the and is are you your do does what when where how which we our of to for with can "
        "i my it this that have has there open hours price much want please thanks hello hi "
        "book an"
    ),
    "pt": _words(
        "o os as é são vocês você voce que qual quais quando onde como de do da dos das em no "
        "na nos um uma para com não sim horário abrem abre funcionamento quanto custa custam "
        "obrigado obrigada olá oi bom boa dia meu minha posso pagar marcar está estão até por "
        "e fazem aceitam preço"
    ),
    "es": _words(
        "el los las la es son ustedes usted qué que cuál cuáles cuándo cuando dónde donde "
        "cómo como de del en un una para con no sí horario abren abre cuánto cuesta cuestan "
        "gracias hola buenos buenas mi puedo pagar reservar cita está hasta por y hay aceptan "
        "precio"
    ),
    "de": _words(
        "der die das und ist sind sie ihr was wann wo wie welche von zu für mit kann ich mein "
        "ein eine einen nicht ja öffnungszeiten geöffnet kostet danke hallo guten tag bitte "
        "termin haben habt auf am um wir preis"
    ),
}
# Letters only one of the languages writes.
_LETTERS: Final[Mapping[str, frozenset[str]]] = {
    "pt": frozenset("ãõçâêô"),
    "es": frozenset("ñ¿¡"),
    "de": frozenset("äöüß"),
}
_WORD: Final = re.compile(r"[^\W\d_]+", re.UNICODE)
_ARABIC: Final = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")


def guess_language(text: str) -> str:
    """The language (en, pt, es, de, ar) `text` is most likely in; "" when nothing says."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return ""
    if sum(1 for c in letters if _ARABIC.match(c)) * 2 >= len(letters):
        return "ar"
    words = {word.lower() for word in _WORD.findall(text)}
    lowered = text.lower()
    scores = {
        language: len(words & common)
        + 2 * sum(1 for letter in _LETTERS.get(language, ()) if letter in lowered)
        for language, common in _WORDS.items()
    }
    best = max(scores.values())
    leaders = [language for language, score in scores.items() if score == best]
    return leaders[0] if best > 0 and len(leaders) == 1 else ""


def phrases_for(language: str) -> Phrases:
    """The phrases of `language` (`pt`, `pt_BR`, `PT-br`…); English for one it does not write."""
    return PHRASES.get(language.strip().lower()[:2], PHRASES[ENGLISH])


def written(language: str) -> str:
    """`language` as one of PHRASES' keys, "" when the offline assistant does not write it."""
    short = language.strip().lower()[:2]
    return short if short in PHRASES else ""


# Words that only greet or only thank (and the small words around them), in the languages the
# offline assistant writes: a message made of nothing else asks no question of the knowledge.
_GREETING: Final = _words(
    "hi hello hey hiya good morning afternoon evening there olá ola oi bom boa dia tarde noite "
    "tardes noites noches "
    "hola buenos buenas días dias hallo guten tag morgen abend servus moin "
    "مرحبا مرحبًا أهلا اهلا السلام عليكم صباح مساء الخير"
)
_THANKS: Final = _words(
    "thanks thank you thx ty very much a lot many obrigado obrigada muito muitas valeu gracias "
    "muchas danke schön schon vielen dank شكرا شكرًا جزيلا جزيلًا"
)
_THANKING: Final = _words(
    "thanks thank thx ty obrigado obrigada valeu gracias danke dank شكرا شكرًا"
)
_NAME_LIKE: Final = 3  # at most this many words (a greeting with a name, "oi lina")


def is_greeting(text: str) -> bool:
    """Whether `text` only greets ("Oi", "Bom dia!", "hello there")."""
    return _only(text, _GREETING, leeway=1)


def is_thanks(text: str) -> bool:
    """Whether `text` only thanks ("Obrigada!", "thanks a lot")."""
    return _only(text, _THANKS | _GREETING, leeway=0) and bool(_found(text) & _THANKING)


def _found(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def _only(text: str, words: frozenset[str], *, leeway: int) -> bool:
    """Whether `text` has a few words, all among `words` but at most `leeway` names (written
    with a capital: "Oi Lina", not "muito bom")."""
    found = _WORD.findall(text)
    if not found or len(found) > _NAME_LIKE + leeway or any(c.isdigit() for c in text):
        return False
    unknown = [word for word in found if word.lower() not in words]
    names = all(word[0].isupper() for word in unknown)
    return names and len(unknown) <= leeway and len(unknown) < len(found)
