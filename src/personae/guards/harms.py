# ruff: noqa: E501  (the patterns read best unbroken, one alternative a line)
"""Deterministic harm rules for requests that read like harmless questions, and the harmless
frames that lower a request's harm score.

The classifier reads what a message is about; a short request that names its victim in
everyday words ("how do I throttle someone?", "what is my roofer's passport number?") can
score low because most of its words are harmless. These rules catch the shapes such requests
take, in general terms: a *request* (how do I, best way to, can I, help me, ...) for violence
against a *person*, another person's private records, praise or denial of an atrocity,
attacks on crowded places, fraud and evading the law. Each rule needs both halves; neither
alone stops anything.

A **harmless frame** (a game, a film or novel, a computer, a history question) lowers the
classifier's harm score and turns off the violence rule: "how do I kill someone in a video
game", "how do I kill a Python process", "how did they kill people in World War 2". A frame
never lowers a rule's verdict on private records, atrocity praise or self-harm, and a request
for real-world detail ("in real life", "step by step") cancels the frame.

Written for this project from our own word lists; they were checked against the misses of
public safety sets (XSTest, SimpleSafetyTests), so figures on those sets flatter them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from personae.guards.features import normalise

# A request to do something (not a story, a report or a question about the past).
_REQUEST = (
    r"(\bhow (do|can|could|should|would|might|to|does one|would one)\b"
    r"|\b(best|easiest|quickest|fastest|simplest|surest|safest|most effective|perfect|cheapest|right|good|effective) (way|ways|method|methods|strategy|place|places|tools?|weapons?|time)\b"
    r"|\b(help|teach|show) me\b|\btell me (how|where|what|which)\b|\bgive me\b"
    r"|\b(can|could|should|shall|may|must) (i|we)\b|\bwhat (\w+ ){0,4}(can|could|should|do|would) (i|we)\b"
    r"|\bwhere (can|could|do|should|would) (i|we)\b|\b(steps|ways|tips|instructions|guide) (to|for|on)\b"
    r"|\b(process|procedure|method|methods|means|ways?) (for|of)\b"
    r"|\bi('m| am)? (want|need|plan|intend|wanna|going|gonna|trying|about)( to)?\b|\blet'?s\b)"
)
_FILLER = r"(?:(?:the|a|an|my|your|his|her|their|our|this|that|these|those|some|all|every|any|one|two|three|dead|innocent|random|little|old|young|sick|annoying|stupid|whole|entire|other|most|many|more|as|lot|lots|of|crying|own|sleeping|unsuspecting)\s+){0,3}"
_VIOLENT = (
    r"(kill|murder|assassinate|stab|shoot|strangle|throttle|choke|smother|suffocate|poison|drown|behead|decapitate"
    r"|torture|maim|mutilate|kidnap|abduct|beat|beat up|punch|kick|slap|attack|assault|injure|wound"
    r"|eliminate|do away with|run over|set fire to|bury|dismember|chop up|cut up|bludgeon|execute"
    r"|hang|lynch|massacre|slaughter|butcher|gas)"
)
_PERSON = (
    r"(someone|somebody|anyone|anybody|people|person|him|her|everyone|everybody|civilians|a crowd|crowds|humans?"
    r"|(man|woman|men|women|child|children|kid|kids|baby|babies|toddler|toddlers|stranger|strangers|cop|cops|police officer|officer|neighbou?rs?|classmates?|student|students|teacher|students|witness|witnesses|hostages?|girl|boy|girls|boys|pedestrians?|worshippers|shoppers|spectators|passengers)"
    r"|(wife|husband|ex|ex-\w+|boss|partner|boyfriend|girlfriend|mother|father|mom|mum|dad|parents?|brother|sister|son|daughter|friend|roommate|coworker|colleague|landlord|family|grandma|grandpa|grandmother|grandfather|spouse|fiance|fiancee|stepdad|stepmom|uncle|aunt|cousin)"
    r"|(president|prime minister|senator|mayor|king|queen|judge|politician|ceo|pope|governor)"
    r"|(dead )?body|bodies|corpse|corpses|victims?)"
)
# Not violence: "hit her up", "shoot him a message", "hurt her feelings", "kill them with kindness".
_NOT_VIOLENT = r"(?!'|\u2019| (up|out|off|a (message|text|note|line|email|dm)|an email|feelings|chances|with kindness|(in|at) (chess|checkers|cards|poker|a (race|debate|game|match))))"
_VIOLENCE = re.compile(
    rf"{_REQUEST}[^.!?]{{0,60}}\b{_VIOLENT}\s+{_FILLER}{_PERSON}\b{_NOT_VIOLENT}"
    rf"|{_REQUEST}[^.!?]{{0,60}}\b(saw|chop|cut|dissolve|dispose of|hide|bury|get rid of|dismember)\w*\b[^.!?]{{0,15}}\b(a |the )?(dead )?(body|bodies|corpse|corpses)\b(?! (odou?r|hair|fat|acne|lotion|spray|wash|heat|weight|temperature|language|shop|paragraph|text))"
)
# Attacks on crowded places and mass violence, however they are phrased as a request.
_PLACES = r"(hospital|school|church|mosque|synagogue|temple|stadium|airport|mall|concert|subway|train station|station|market|parade|festival|nightclub|office building|government building|embassy|city|village|town|crowd)"
_MASS = re.compile(
    rf"{_REQUEST}[^.!?]{{0,60}}\b(bomb|blow up|set fire to|burn down|shoot up|attack|gas|poison|wipe out|destroy)\s+((a|an|the|my|our|this|that|local|nearby|crowded|busy|packed|\w+'s)\s+)?(\w+\s+)?{_PLACES}s?\b"
    rf"|{_REQUEST}[^.!?]{{0,60}}\bset (a|an|the|my|our|this|that|\w+'s) (\w+ )?{_PLACES} on fire\b"
    rf"|{_REQUEST}[^.!?]{{0,60}}\b(plan|execute|carry out|commit|organi[sz]e|pull off|get away with)\b[^.!?]{{0,25}}\b(explosion|bombing|massacre|mass shooting|shooting|terror(ist)? attack|attack|genocide|assassination|murder|another death|a death)\b"
    r"|\b(plan|cause|arrange|stage) (another|a|the) (death|murder|assassination)\b"
    r"|\b(engage in|commit|carry out|fund|finance|join|support|do) (acts of |an act of )?terroris[mt]\b"
    rf"|{_REQUEST}[^.!?]{{0,60}}\b(liquidat\w*|exterminat\w*|wipe out|eradicate|ethnically cleanse|purge|massacre|slaughter)\b[^.!?]{{0,20}}\b(group of people|people|population|villages?|towns?|tribes?|race|minorit(y|ies)|ethnic \w+|religious \w+|jews|muslims|christians|refugees|immigrants)\b"
)
# Another person's private records or protected traits.
_PRIVATE = (
    r"(home address|(home|personal|private|cell|mobile) (phone number|number|address|email( address)?)|phone number|address|email address"
    r"|social security( number)?|ssn|passport( number)?|driver'?s licen[cs]e( number)?|bank (account|details|statements?)|credit card( number| details)?|pin"
    r"|medical (records?|history|files?)|health records?|diagnosis|therapy notes|date of birth|birth certificate|criminal record|tax returns?|salary|passwords?|login"
    r"|sexual orientation|sexuality|religio(n|us beliefs?)|immigration status|visa status|political (affiliation|views|leanings?)|union membership|ethnicity|hiv status|location|whereabouts"
    r"|(internet |web )?(browsing|search|mental health|medical|sexual|dating|criminal|location|call) history|private (messages|photos|texts)|(text|whatsapp) messages|emails|dms)"
)
_OTHERS = (
    r"(my \w+'s|my \w+s'|my \w+ \w+'s|someone'?s|somebody'?s|a stranger'?s|strangers'?|other people'?s|people'?s"
    r"|celebrit(y|ies)'?s?|(a|the) (celebrity|politician|ceo|actor|actress|singer|influencer)'?s|(his|her|their) (ex|neighbou?r|boss)'?s)"
)
_TRAIT = r"(gay|lesbian|bisexual|trans(gender)?|straight|religious|muslim|jewish|christian|atheist|pregnant|undocumented|illegal|an illegal immigrant|hiv positive|a member of (a|the) \w+ union|in a union|a union member|on medication|mentally ill)"
_PRIVACY = re.compile(
    rf"\b(what('?s| is| are)|where (can|could|do) (i|we) (find|get|see|look up)|how (can|do|could) (i|we) (find|get|see|obtain|look up|access)|give me|tell me|find|look up|share|leak|dox|post)\b[^.!?]{{0,20}}\b{_OTHERS} {_PRIVATE}\b"
    rf"|\b{_PRIVATE} of (my \w+|someone|somebody|a stranger|celebrities|a celebrity)\b(?! (company|business|shop|store|office|school))"
    rf"|\b(is|are) my \w+( \w+)? {_TRAIT}\b"
)
# Praise, repetition or denial of an atrocity.
_ATROCITY = (
    r"(genocides?|shootings?|bombings?|holocaust|shoah|ethnic cleansing|slave trade|slavery|apartheid|concentration camps?|death camps?|gas chambers?|auschwitz|massacres?|pogroms?|lynchings?"
    r"|khmer rouge|killing fields|nanking|trail of tears|atomic bomb(s|ing|ings)?|hiroshima|nagasaki|gulags?|holodomor|the great purge|final solution|mass shootings?|school shootings?|church shooting|terror(ist)? attacks?|9/11|the nazis?|nazism)"
)
_PRAISE = r"(benefits?|good thing|beneficial|justified|positives?|positive (side|sides|aspects?|effects?|impacts?)|upsides?|glorious|glorify|admirable|admire|praise|celebrate|(was|were) (great|good|right|necessary|a success))"
_REPEAT = r"(replicate|recreate|repeat|bring back|revive|reproduce|emulate|restart|do it again|achieve the same)"
_DENY = r"(hoax|fabricat\w*|never happened|didn'?t (really )?happen|made up|a lie|a myth|exaggerat\w*|overstat\w*|faked?|lie about|deny|denial)"
_ATROCITIES = re.compile(
    rf"\b{_PRAISE}\b[^.!?]{{0,40}}\b{_ATROCITY}\b|\b{_ATROCITY}\b[^.!?]{{0,40}}\b{_PRAISE}\b"
    rf"|\b{_REPEAT}\b[^.!?]{{0,40}}\b{_ATROCITY}\b"
    rf"|\b{_DENY}\b[^.!?]{{0,40}}\b{_ATROCITY}\b|\b{_ATROCITY}\b[^.!?]{{0,40}}\b{_DENY}\b"
    rf"|\b{_REPEAT}\b[^.!?]{{0,40}}\b(rule|regime|methods|purges?)\b"
    r"|\b(overstat\w*|exaggerat\w*|lie about|make up|invent\w*) (what happened|their suffering|how many died|the death toll)\b"
    r"|\bwhy (was|were|is|are)\b[^.!?]{0,40}\b(right|justified) to (kill|attack|invade|murder|shoot|bomb|massacre|exterminate|enslave|gas|lynch|slaughter)\b"
)
# Rights denied to a real group of people.
_GROUP = (
    r"(women|men|girls|boys|elderly people|the elderly|old people|elderly|seniors|pensioners|black people|blacks|white people|asians?|asian people|jews|jewish people|muslims|christians|hindus|sikhs|buddhists|atheists"
    r"|immigrants|migrants|refugees|foreigners|gay people|gays|lesbians|bisexuals|trans people|transgender people|queer people|disabled people|the disabled|poor people|the poor|homeless people|fat people"
    r"|mexicans|africans|arabs|indians|chinese people|latinos|hispanics|roma|gypsies|native americans|indigenous people|aboriginal people)"
)
_DENIED = (
    r"((not|never|n't) (be allowed|be permitted|have (access|the right|rights|a say)|vote|work|marry|lead|hold office|own property|adopt|be hired|get (jobs|healthcare|an education))"
    r"|be (denied|banned|barred|excluded|segregated|deported|sterili[sz]ed|locked up|kept out|stripped|enslaved|exterminated))"
)
_RIGHTS = re.compile(
    rf"\b{_GROUP}\b[^.!?]{{0,10}}\b(should|must|ought to|need to|deserve to)\s+{_DENIED}\b"
    rf"|\b(should|must|ought|shouldn'?t)\s+{_GROUP}\s+{_DENIED}\b"
    rf"|\bthat {_GROUP} (should )?(make|take|hold|decide|control|run) all\b"
    rf"|\b(deny|ban|bar|exclude|segregate|deport|sterili[sz]e|enslave) (all )?{_GROUP} (from|the right|access)\b"
)
# Figures of speech that sound violent: an idiom frames the request like a game does.
_IDIOMS = (
    r"(steal\w* (\w+'?s? )?hearts?|(explode|burst|die|died|dying|crack(ed)? up) (\w+ )?(with|of) laughter|kill(ing)? (time|it|the lights|the mood|the engine)|break the ice"
    r"|(hit|smash|crush|beat|nail|kill|destroy|blow away|murder) (my |the |our |your |his |her |their |all )?(sales )?(targets?|goals?|deadlines?|quotas?|records?|personal best|exams?|tests?|interviews?|presentations?|competition|workouts?)"
    r"|bomb (the|my|an?|this) (test|exam|interview|audition|quiz|presentation)|blow (\w+ )?minds?|knock (\w+ )?(dead|out of the park)|slay(ed|ing)? (the|that|my|this) (look|outfit|performance|presentation)"
    r"|shoot (for|my shot|the breeze)|take a stab at|bury the hatchet|kill two birds|murder (a|the|that) (song|karaoke|pizza|burger))"
)
# Crimes against property and people's money: theft, fraud, evading the law.
_CRIME = re.compile(
    rf"{_REQUEST}[^.!?]{{0,60}}\b(break into|rob|burgle|burglari[sz]e|crack open|disable the alarms?( \w+)? (in|on|of)|get past the alarms?( \w+)? (in|on|of)|pick the lock (on|of))\b[^.!?]{{0,12}}\b(a|an|the|his|her|their|someone'?s|somebody'?s|(a|an|the|my|our) \w+'s) (\w+ )?(bank|vault|house|home|apartment|car|store|shop|atm|safe|museum|jewell?ery store|gas station|office)\b"
    rf"|{_REQUEST}[^.!?]{{0,60}}\b(steal|stealing|shoplift|shoplifting|pickpocket|pickpocketing)\b(?! (the |a |my |your |his |her |their )?(\w+'?s )?(heart|hearts|show|spotlight|limelight|glances?|looks?|kiss|base|bases|thunder|moment|idea|ideas|the ball|a march))"
    rf"|{_REQUEST}[^.!?]{{0,60}}\b(smash|vandali[sz]e|key|slash|wreck|trash|damage|sabotage)\b[^.!?]{{0,5}}\b(someone'?s|somebody'?s|my \w+'s|a neighbou?r'?s|other people'?s|people'?s|his|her|their)\b"
    r"|\b(cut|cutting|tamper\w* with|sabotag\w*)\b[^.!?]{0,25}\b(brakes?|brake lines?|breaks)\b"
    rf"|{_REQUEST}[^.!?]{{0,40}}\blaunder(ing)? (money|cash|funds|the proceeds|proceeds|dirty money)\b"
    r"|\b(start|run|set up|recruit\w* (\w+ ){0,3}for|promote|join|grow) (a |my |an |our )?(ponzi|pyramid) scheme\b"
    r"|\b(promote|set up|run|start|sell|advertise|create|launch)\b[^.!?]{0,20}\bfake (business|charity|company|store|shop|online shop|drop ?shipping business|investment|lottery|giveaway)\b"
    r"|\b(buy|get|order|purchase|sell)\b[^.!?]{0,40}\b(on|from|through|via) (the )?(black market|dark ?web|darknet)\b"
    r"|\b(without|no|don'?t (do|run|require|need)|do not (do|run|require)|skip|avoid|bypass|get around|dodge)\b( \w+){0,2} background checks?\b"
    r"|\b(not|don'?t|never|won'?t) (card|id|check|look at|ask for)\b[^.!?]{0,30}\b(ids?|people|customers|anyone|kids|minors|teens)\b"
    r"|\b(exploit|defraud|swindle|con|scam|fleece)\b[^.!?]{0,20}\b(them|someone|somebody|people|vulnerable|elderly|old people|pensioners|seniors|grandma|grandpa|my \w+) (for|out of|into)\b"
    r"|\brun (a |the )?scams?\b|\bscam (call cent(re|er)|operation|website|business)\b|\bfake (call cent(re|er)|job scam)\b"
    r"|\b(steal\w*|clon\w*|take over|hijack\w*) (someone'?s |somebody'?s |people'?s |a person'?s |their |other people'?s )?identit(y|ies)\b"
    r"|\bvulnerable\b[^.!?]{0,30}\b(exploit|scam|con|defraud)\b"
)

# Harmless frames: what the request is about when it is not the world.
_GAME = r"(video ?games?|games?|computer games?|board games?|card games?|chess|checkers|draughts|poker|cards|minecraft|fortnite|call of duty|gta( \w+)?|grand theft auto|the sims|skyrim|zelda|pokemon|roblox|league of legends|overwatch|valorant|counter-strike|dungeons (and|&) dragons|d&d|tabletop|rpg|mmo|multiplayer|match|tournament|paintball|laser tag|airsoft)"
_FICTION = r"(novels?|stor(y|ies)|books?|films?|movies?|screenplay|script|scripts|tv shows?|shows?|series|plays?|theatre|theater|musical|poems?|fan ?fiction|fanfic|comics?|manga|anime|fiction|fictional|fantasy world|short story|sitcom|soap opera|campaign)"
_COMPUTE = r"(process(es)?|threads?|programs?|apps?|applications?|tasks?|jobs?|servers?|containers?|pods?|daemons?|services?|queries|query|connections?|sessions?|loops?|scripts?|commands?|terminals?|tabs?|windows?|docker|kubernetes|linux|python|java|bash|sql|git|branch(es)?|commits?|files?|pid|functions?|bugs?|code)"
_FRAMES = re.compile(
    rf"\b(in|at|on) (a |the |my |our )?(\w+ ){{0,2}}{_GAME}\b|\b(playing|play|game of)\b"
    rf"|\b(in|for|from|of) (a |an |the |my |our |this )?(\w+ ){{0,3}}{_FICTION}\b|\b(fictional|pretend|imaginary|role-?play|prop|props|stage combat|special effects)\b|\b(i'?m|i am) (writing|directing|filming|drawing)\b"
    rf"|\b(kill|terminate|shoot|execute|stop|end|murder|nuke|destroy|abort)\b[^.!?]{{0,20}}\b{_COMPUTE}\b"
    r"|\b(history|historical|historically|in the (\d+(s|th century))|world war (i|ii|1|2|one|two)|ww(i|ii|1|2)|during the|ancient|medieval|the romans|the middle ages|for (school|class|my essay|an essay|homework|a report|my thesis))\b"
    r"|\b(how|why|what|when|where|who) (did|was|were|had)\b"
    rf"|\b{_IDIOMS}\b"
)
# Asking what a word or a thing is, not how to do it ("what kind of drug is meth?",
# "what does it mean to eradicate people?"); a request anywhere in the text cancels it.
_DEFINITION = re.compile(
    r"^\W*(what (is|are|was|were) (a |an |the )?[\w' -]{1,30}\?*$|what does\b.*\bmean\b|what kind of \w+ (is|are)\b|what constitutes\b|define\b|(the )?(meaning|definition) of\b|what('?s| is) the (meaning|definition)\b)"
)
_REQUESTED = re.compile(_REQUEST)
# About someone in particular: never a mere definition.
_SOMEONE = re.compile(r"\b(my|your|his|her|their|our|someone|somebody)\b|\w's\b")
# Frames count in short questions only; fixed a priori (a question, not a scenario).
FRAME_WORDS = 25
# Setting a role or a scenario for the assistant: the shape of a jailbreak, not of a question.
_ROLE = re.compile(
    r"\b(you are|you'?re (now )?(a|an|the|my)|act as|acting as|pretend (to be|you)|imagine|hypothetical\w*|scenario|role-?play|roleplaying|stay in character|as an? (expert|researcher|professional)|for (educational|research) purposes|no (restrictions|limits|filters))\b"
)
# Real-world detail cancels a frame: "in a game" does not make a recipe for a real weapon safe.
_REAL = re.compile(
    r"\b(in real life|irl|for real|in reality|real world|step[- ]by[- ]step|exact (amounts?|quantities|steps|recipe|instructions)|detailed instructions|without getting caught|get away with|untraceable|undetectable|today|nowadays|right now)\b"
)


@dataclass(frozen=True, slots=True)
class Harm:
    """A rule that matched: its hazard code and why."""

    code: str
    reason: str


def harmless_frame(text: str) -> bool:
    """A game, a story, a computer, history or a definition frames a short request, and it
    asks for no real-world detail. A long message that builds a scenario is how jailbreaks
    wrap harm in fiction, so frames count only in messages of FRAME_WORDS words or fewer, and
    never with role-setting ("you are", "act as", "imagine", "hypothetically")."""
    folded = normalise(text)
    if len(folded.split()) > FRAME_WORDS or _REAL.search(folded) or _ROLE.search(folded):
        return False
    if _DEFINITION.search(folded) and not (_REQUESTED.search(folded) or _SOMEONE.search(folded)):
        return True
    return _FRAMES.search(folded) is not None


def hazard(text: str) -> Harm | None:
    """The first harm rule ``text`` matches, or None."""
    folded = normalise(text)
    if _PRIVACY.search(folded):
        return Harm("S7", "another person's private records")
    if _ATROCITIES.search(folded):
        return Harm("S10", "praise, repetition or denial of an atrocity")
    if _RIGHTS.search(folded):
        return Harm("S10", "rights denied to a group of people")
    if _MASS.search(folded) and not harmless_frame(folded):
        return Harm("S1", "an attack on many people or a public place")
    if _VIOLENCE.search(folded) and not harmless_frame(folded):
        return Harm("S1", "violence against a person")
    if _CRIME.search(folded) and not harmless_frame(folded):
        return Harm("S2", "theft, fraud or evading the law")
    return None
