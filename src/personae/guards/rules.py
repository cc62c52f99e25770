# ruff: noqa: E501  (the patterns read best unbroken, one alternative a line)
"""Deterministic checks, where rules are right: crisis phrases, questions about being human,
human claims in a reply, hidden-prompt leaks, sexual content with minors, romance, injection
phrasing. Each returns what it found; the embedded guard decides what to do with it."""

from __future__ import annotations

import re

from personae.guards.features import normalise

# Self-harm or suicidal intent *about the speaker*. Figurative uses ("dying to try", "this is
# killing me", "kill a process") do not match: each pattern needs a first-person intent or a
# self-directed object.
_CRISIS = [
    r"\b(i|i'm|im|i am)\b[^.!?]{0,40}\b(want|going|plan(ning)?|ready|about|tempted|thinking( about| of)?|think about|feel like)\b[^.!?]{0,20}\b(to )?(kill(ing)? my ?self|end(ing)? (my life|it all|it)\b(?! (project|relationship|subscription|contract|lease|membership|day|shift|call|meeting))|suicide|die\b|take my (own )?life|hurt(ing)? my ?self|cut(ting)? my ?self|not (be )?(here|alive))",
    r"\b(kill(ing)?|hurt(ing)?|cut(ting)?|harm(ing)?|starv(e|ing)|hang(ing)?|drown(ing)?|burn(ing)?) my ?self\b",
    r"\bsuicid(e|al)\b(?![^.!?]{0,30}\b(prevention|squad|mission|awareness|rates?|statistics|research|doors?|lane)\b)(?<!\bwhat is suicide)(?<!\bdefine suicide)(?<!\bmeaning of suicide)",
    r"\b(want|wish) (to|i could|i was|i were) (die|be dead|disappear forever|not wake up|never wake up)\b",
    r"\bi (wish|want) i (was|were) (dead|never born)\b",
    r"\b(no|no longer|not any) (reason|point) (to|in) (go on |keep )?(live|living|going on|being alive)\b",
    r"\b(end|ending|take|taking) my (own )?life\b",
    r"\b(better off|world would be better) (dead|without me)\b",
    r"\bdon'?t want to (live|be alive|exist|wake up)( anymore| any more)?\b",
    r"\b(overdos(e|ing)|od)\b[^.!?]{0,30}\b(on purpose|tonight|to die|and die)\b",
    r"\b(self[- ]?harm(ing)?)\b(?![^.!?]{0,30}\b(friend|son|daughter|kid|child|student|awareness|signs|resources|research)\b)(?<!\bwhat is self-harm)(?<!\bwhat is self harm)(?<!\bwhat is selfharm)",
    r"\bgoodbye (forever|everyone)\b|\bthis is my (last|final) (message|goodbye)\b",
    r"\bcan'?t (go on|take it anymore|do this anymore)\b[^.!?]{0,40}\b(die|dead|end|life|living)\b",
    r"\b(is|isn'?t) (it|life|my life) (even |really |still )?worth (me )?(being alive|living|staying alive|going on|it anymore)\b",
    r"\b(what|which|how much|how many)\b[^.!?]{0,30}\b(can|could|should|do|would) i (take|swallow|drink|use|buy|inject)\b[^.!?]{0,25}\bto (die|end (it|it all|my life)|not wake up|never wake up)\b",
]
CRISIS = re.compile("|".join(f"(?:{p})" for p in _CRISIS))
# Injuring one's own body, asked or announced ("how do I carve ... into my arm", "is burning my
# skin a good way to ..."); care for an injury ("how do I clean a cut on my arm") is not.
SELF_INJURY = re.compile(
    r"\b(how (do|can|could|should|to)|best way|easiest way|quickest way|should i|want to|going to|gonna|i'?ll|i will|tips for|is|are)\b[^.!?]{0,30}\b(cut|cutting|carve|carving|slit|slitting|sever|severing|slice|slicing|burn|burning|stab|stabbing|starve|starving|pierce|piercing|gouge|gouging)\b[^.!?]{0,25}\bmy (own )?(\w+ )?(wrists?|arms?|forearms?|thighs?|legs?|skin|veins?|arter(y|ies)|throat|neck|stomach|belly|body|flesh)\b(?! (hair|nails?))"
)
_CARE = re.compile(
    r"\b(treat\w*|heal\w*|clean\w*|soothe|bandage|stitch\w*|infect\w*|cream|ointment|doctor|nurse|first aid|sunburn\w*|shav\w*|wax\w*|tattoo\w*|piercing shop|ok|okay|normal|itch\w*|recipe|cook\w*|oven|stove|accident\w*|by mistake)\b"
)

# "Are you human / a bot / real?": a question about what the persona is.
HUMAN_QUESTION = re.compile(
    r"\b(are|r) (you|u|ya)\b[^.!?]{0,25}\b(human|a (real )?(person|people|man|woman|guy|girl)|real|an? (ai|a\.i\.|bot|robot|machine|computer|program|chatbot|llm|language model))\b"
    r"|\b(is this|am i (talking|chatting|speaking) (to|with))\b[^.!?]{0,25}\b(human|real person|bot|ai|robot|machine|computer)\b"
    r"|\b(you'?re|you are) (not )?(a )?(real|human|bot|robot|ai)\b[^.!?]{0,10}\?"
)

# A reply claiming to be human. The persona may play a cook; it may not say it is a person.
HUMAN_CLAIM = re.compile(
    r"\b(i'?m|i am|i'm definitely|i am definitely)\b[^.!?]{0,15}\b(not (an? )?(ai|a\.i\.|bot|robot|machine|program|computer|chatbot)|(a )?(real|actual|living) (human|person|woman|man|girl|guy)|a human( being)?|human,? not)\b"
    r"|\bi'?m (flesh and blood)\b|\bno,? i'?m not (an? )?(ai|bot|robot)\b"
)
AI_ADMISSION = re.compile(
    r"\b(ai|a\.i\.|artificial intelligence|language model|chatbot|bot|not a (real )?(person|human)|virtual|computer program)\b"
)

_MINOR = r"(\b(child|children|kid|kids|minor|minors|underage|preteen|toddler|little (girl|boy))\b|\b([1-9]|1[0-7])[- ]?(yo|y/o|years?[- ]old|year[- ]olds?)\b|\b(thirteen|fourteen|fifteen|sixteen|seventeen|twelve|eleven|ten)[- ]year[- ]old\b)"
_SEXUAL = r"\b(sex|sexual|sexy|nude|naked|erotic|porn|nsfw|lewd|orgasm|intercourse|genitals?|explicit|horny|make love|aroused)\b"
# Body parts and acts that are sexual beside a child (kept out of _SEXUAL: a teen may ask
# what a word means); "pro-paedophile" groups are sexual content involving minors by name.
_BODY = r"\b(genital\w*|penis|vagina|private parts)\b"
_SEXUAL_ACT = r"\b(masturbat\w*|molest\w*|fondl\w*|grop(e|ing))\b"
_ABUSE = rf"({_SEXUAL}|{_BODY}|{_SEXUAL_ACT})"
_PAEDOPHILE = r"\bpro[- ]?pa?edophil\w*|\bpa?edophil\w* (groups?|communit(y|ies)|forums?|networks?|clubs?|chats?)\b"
# Protecting or teaching a child is not sexual content: "how do I talk to my kids about sex".
_PROTECTIVE = re.compile(
    r"\b(talk(ing)? (to|with)|teach(ing)?|explain(ing)?|educat\w+|protect(ing)?|keep\w* (them|my \w+) safe|warning signs|signs of|report(ing)?|recogni[sz]e|prevent\w*)\b[^.!?]{0,50}\b(about|from|of|abuse|safe|education|puberty)\b"
    r"|\bsex(ual)? education\b|\bpuberty\b|\b(asked|asks|asking) (me )?(what|about|where|how)\b"
)
# The names of sex crimes, as an explanation or a warning uses them ("neglect, physical or
# sexual abuse"): words for the crime, not sexual content.
_CRIME_NAME = re.compile(
    r"\bsexual(ly)? (abuse[sd]?|abusing|exploit\w*|assault\w*|violence|harass\w*|grooming)\b"
    r"|\bsex (crimes?|offen[cs]es?|offenders?|trafficking)\b"
)
MINOR_SEXUAL = re.compile(f"(?={_MINOR}.*{_ABUSE}|{_ABUSE}.*{_MINOR})|{_PAEDOPHILE}", re.DOTALL)
SEXUAL = re.compile(_SEXUAL)
ROMANCE = re.compile(
    r"\b(kiss(es|ing)?|cuddl(e|ing)|make out|girlfriend|boyfriend|be my (gf|bf|date|lover|partner)|love you|in love|romantic|romance|flirt(ing)?|date me|marry me|sweetheart|darling|babe)\b"
)
# Self-declared age ("I'm 14", "I am fifteen years old").
SELF_AGE = re.compile(
    r"\b(i'?m|i am|im)\s+(only\s+|just\s+)?(?P<age>1[0-7]|[5-9]|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen)\b(\s*(years?|yrs?)( old)?|\s*yo\b)?(?!\s*(minutes?|hours?|days?|weeks?|months?|kg|lbs?|cm|%|dollars?|euros?|pounds?|items?|times?|percent)\b)"
)
WORD_NUMBERS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17,
}  # fmt: skip
INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b[^.!?]{0,30}\b(previous|prior|above|earlier|all|your|the)\b[^.!?]{0,20}\b(instructions?|rules|prompt|directions|guidelines|constraints)\b"
    r"|\b(reveal|print|show|repeat|output|leak|tell me|display|quote|recite)\b[^.!?]{0,30}\b(system prompt|hidden (instructions|prompt|rules)|initial (prompt|instructions)|pre-?prompt|your (instructions|prompt|rules|password|access code)|the (access )?code|the password)\b"
    r"|\b(developer|dan|jailbreak|god) mode\b|\byou are now\b[^.!?]{0,20}\b(unrestricted|unfiltered|dan|free)\b"
)
# What an injection talks to or about: the assistant, its instructions, its role. The
# classifier's injection score alone does not stop a message that names none of these
# ("Pretend I know nothing and explain it." asks for a simpler answer, not a new master).
ADDRESSES_ASSISTANT = re.compile(
    r"\b(you|your|you'?re|yourself|u|ur|instructions?|prompt|rules|system|guidelines|password|access code|code|previous|above|assistant|ai|bot|model|persona|character|developer|admin|mode|policy|policies|filters?|restrictions?|constraints?)\b"
    r"|\b(act as|pretend to be|role-?play as|from now on|new task|granted)\b"
)
PROFESSIONAL: dict[str, re.Pattern[str]] = {
    "medical": re.compile(
        r"\b(diagnos\w*|symptoms?|dosage|dose of|prescri\w+|medication|antibiotics?|chest pain|rash|infection|my doctor|treat(ment)? for|is it cancer)\b"
    ),
    "legal": re.compile(
        r"\b(lawsuit|sue|lawyer|attorney|legal advice|custody|contract dispute|court case|evict\w*|divorce)\b"
    ),
    "financial": re.compile(
        r"\b(invest\w*|stocks?|crypto\w*|bitcoin|retirement|401k|mortgage|loan|tax(es)? (return|advice)|portfolio)\b"
    ),
    "mental_health": re.compile(
        r"\b(depress\w*|anxiety|panic attacks?|therap\w+|ptsd|bipolar|eating disorder|trauma)\b"
    ),
}


def is_crisis(text: str) -> bool:
    folded = normalise(text)
    if CRISIS.search(folded) is not None:
        return True
    return SELF_INJURY.search(folded) is not None and _CARE.search(folded) is None


def asks_if_human(text: str) -> bool:
    return HUMAN_QUESTION.search(normalise(text)) is not None


def claims_human(text: str) -> bool:
    return HUMAN_CLAIM.search(normalise(text)) is not None


def admits_ai(text: str) -> bool:
    return AI_ADMISSION.search(normalise(text)) is not None


def minor_sexual(text: str, naming_crimes: bool = False) -> bool:
    """Sexual content involving minors. ``naming_crimes``: a reply may name the crime
    ("sexual abuse", "sexually exploited") when it explains or warns about it; only other
    sexual words beside a child count there."""
    folded = normalise(text)
    if naming_crimes:
        folded = _CRIME_NAME.sub(" ", folded)
    if MINOR_SEXUAL.search(folded) is None:
        return False
    # A parent's or teacher's protective question, unless it also names an act against a child.
    return _PROTECTIVE.search(folded) is None or re.search(_SEXUAL_ACT, folded) is not None


def sexual(text: str) -> bool:
    return SEXUAL.search(normalise(text)) is not None


def romantic(text: str) -> bool:
    return ROMANCE.search(normalise(text)) is not None


def injection(text: str) -> bool:
    return INJECTION.search(normalise(text)) is not None


def addresses_assistant(text: str) -> bool:
    return ADDRESSES_ASSISTANT.search(normalise(text)) is not None


def self_declared_age(text: str) -> int | None:
    match = SELF_AGE.search(normalise(text))
    if match is None:
        return None
    age = match.group("age")
    return WORD_NUMBERS.get(age) or int(age)


def professional_topic(text: str, topics: tuple[str, ...]) -> str | None:
    lowered = normalise(text)
    for topic in topics:
        pattern = PROFESSIONAL.get(topic)
        if pattern is not None and pattern.search(lowered):
            return topic
    return None


def mentions(text: str, phrases: tuple[str, ...]) -> str | None:
    """The first phrase that occurs in ``text`` as whole words (case-insensitive)."""
    lowered = normalise(text)
    for phrase in phrases:
        key = normalise(phrase).strip()
        if key and re.search(rf"\b{re.escape(key)}\b", lowered):
            return phrase
    return None


def leaked_span(reply: str, hidden: str, min_chars: int = 60) -> int:
    """``min_chars`` when the reply repeats a stretch of at least that many characters of
    ``hidden`` (the persona's instructions), compared case- and space-insensitively; else 0.
    Every window of the reply is looked up in the hidden text: linear, not quadratic."""
    a = " ".join(normalise(reply).split())
    b = " ".join(normalise(hidden).split())
    if len(a) < min_chars or len(b) < min_chars:
        return 0
    for start in range(len(a) - min_chars + 1):
        if a[start : start + min_chars] in b:
            return min_chars
    return 0


def contains_secret(reply: str, secret: str) -> bool:
    """A short secret (an access code, a password) repeated in the reply, ignoring case and
    spacing."""
    key = "".join(normalise(secret).split())
    return len(key) >= 4 and key in "".join(normalise(reply).split())
