"""The composition root: settings -> store, engines, turn runner. Server and CLI start one."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from personae.channels.inbound import Inbound
from personae.channels.polling import Pollers
from personae.channels.registry import Connections
from personae.contracts import ContextSource, Engine, EventSink, Guard, WorkQueue
from personae.core.avatars import AvatarPolicy
from personae.core.cards import ImportedCard, export_card, read_card
from personae.core.charx import MAX_ARCHIVE_BYTES
from personae.core.commands import Commands
from personae.core.data_rights import DataRights
from personae.core.impersonation import ProtectedNames
from personae.core.personas import load_persona_dir
from personae.core.png import SIGNATURE
from personae.core.safety import SafetyPolicy
from personae.core.turn import TURN, Busy, TurnRunner
from personae.delivery.planner import picture_items, split_planner
from personae.delivery.worker import DELIVER, Deliveries
from personae.embed import load_minilm
from personae.embed.shared import process_embedder
from personae.engines.routing import endpoint_models
from personae.errors import CardInvalid, ConfigError, PersonaInvalid, Problem
from personae.images.pictures import PersonaPictures
from personae.media.kept import KeptRenders
from personae.media.remote import RemoteImages
from personae.media.sniff import MediaLimits
from personae.media.store import FolderMediaStore
from personae.memory.commands import MemoryCommands
from personae.memory.service import MemoryService
from personae.memory.source import MemorySource
from personae.memory.work import MEMORY, MemoryWork
from personae.metrics import serve_metrics
from personae.observe import configure_tracing, job_context
from personae.plugins import (
    broken_plugins,
    channel_specs,
    context_source_factories,
    engine_factories,
    guard_factories,
)
from personae.private import private_dir, private_file
from personae.settings import Settings
from personae.stores.forwarded import ForwardedWrites, run_forwarded
from personae.stores.memory import MemoryStore
from personae.stores.runner import SqliteRunner
from personae.stores.sql import SqlStore
from personae.types import (
    Attachment,
    Audience,
    CardFormat,
    Job,
    ModelSettings,
    Persona,
    PersonaRecord,
    ReplyRoute,
    StoredMessage,
)
from personae.video.replies import VideoReplies
from personae.voice.notes import VoiceNotes
from personae.work.backlog import Backlog
from personae.work.events import LocalEventHub
from personae.work.local import LocalWorkQueue
from personae.work.metered import MeteredEvents
from personae.work.pressure import LoopPressure
from personae.work.relay import ServerLink, WorkerProcess

if TYPE_CHECKING:  # procrastinate is the `cluster` extra: imported only when chosen
    from personae.work.cluster import ClusterWorkQueue

Progress = Callable[[str], None]
# all: one process does everything (`personae up`); web: HTTP, webhooks, acknowledgements, no
# model; worker: turns, deliveries, after-turn work (PERSONAE_QUEUE=procrastinate).
Role = Literal["all", "web", "worker"]


def _quiet(_: str) -> None:
    return None


@dataclass
class EnginePool:
    """Engines built on first use and shared, one per (engine, model)."""

    settings: Settings
    progress: Progress = _quiet
    _engines: dict[tuple[str, str | None], Engine] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def key_for(self, model: ModelSettings | None) -> tuple[str, str | None]:
        name = (model.engine if model else None) or self.settings.engine
        chosen = model.name if model else None
        if chosen is None and name == self.settings.engine:
            chosen = self.settings.model
        return name, chosen

    async def for_model(self, model: ModelSettings | None) -> Engine:
        key = self.key_for(model)
        engine = self._engines.get(key)
        if engine is not None:
            return engine
        async with self._lock:
            if key not in self._engines:
                factories = engine_factories()
                factory = factories.get(key[0])
                if factory is None:
                    raise ConfigError(_unknown_engine(key[0], sorted(factories)))
                self.progress(f"loading engine {key[0]}" + (f" ({key[1]})" if key[1] else ""))
                self._engines[key] = await factory(self.settings, key[1])
                info = self._engines[key].info
                self.progress(f"engine ready: {info.name} {info.model}")
            return self._engines[key]

    async def reachable(self, timeout_s: float = 5.0) -> bool:
        """Whether every engine built so far can serve: each one with a ``healthy`` check (a
        remote server, or several endpoints of which one must answer) is asked; an engine
        running in this process has none and counts as ready."""
        checks = [check() for e in self._engines.values() if (check := getattr(e, "healthy", None))]
        try:
            async with asyncio.timeout(timeout_s):
                return all(await asyncio.gather(*checks))
        except TimeoutError:
            return False

    async def aclose(self) -> None:
        engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            await engine.aclose()


def _unknown_engine(name: str, known: list[str]) -> str:
    broken = broken_plugins().get(name)
    if broken:
        return f"engine plugin {name!r} failed to load ({broken}); reinstall or fix that plugin"
    return (
        f"unknown engine {name!r}; installed engines: {', '.join(known) or 'none'}. "
        "Set PERSONAE_ENGINE or the persona's model.engine to one of them"
    )


def samples_dir() -> Path:
    return Path(str(resources.files("personae") / "samples"))


@dataclass
class Runtime:
    settings: Settings
    store: SqlStore
    engines: EnginePool
    turns: TurnRunner
    connections: Connections
    work: WorkQueue
    events: EventSink
    inbound: Inbound
    pollers: Pollers
    deliveries: Deliveries
    memory: MemoryService
    commands: Commands
    pressure: LoopPressure
    media: FolderMediaStore
    sources: list[ContextSource] = field(default_factory=list)
    guards: tuple[Guard, ...] = ()
    role: Role = "all"
    backlog: Backlog | None = None
    pictures: PersonaPictures | None = None
    # Hears and speaks (voice notes, /v1/audio); its models load on first use.
    voice: VoiceNotes = field(default=None)  # type: ignore[assignment]
    stop_metrics: Callable[[], None] | None = None
    # Renders video replies (delivery, the web chat) in worker threads.
    video: VideoReplies = field(default=None)  # type: ignore[assignment]

    @classmethod
    async def start(
        cls,
        settings: Settings,
        progress: Progress = _quiet,
        warm: bool = True,
        channels: bool = True,
        resume: bool = True,
        role: Role = "all",
        link: ServerLink | None = None,
    ) -> Runtime:
        """Open the store (migrating it), seed persona files, load the channel connections
        (unless ``channels`` is False: persona commands must work while they are broken),
        (if ``warm``) load the default engine so the first turn does not pay for it, and start
        the work queue: with ``resume`` it first runs every job the database holds unfinished
        (the server; a CLI command beside it runs only its own), and the delivery worker,
        which sends the outbox (rows left by a crash first). With PERSONAE_QUEUE=procrastinate
        ``role`` splits the work: "web" loads no model and runs no job, "worker" runs them.
        With the local queue, "web" starts a worker process of its own (work/relay.py) and
        "worker" is that process, talking to its server over ``link``."""
        cluster = settings.queue == "procrastinate"
        # `personae up` in two processes (work/relay.py): this one serves, a child works.
        split = not cluster and (role == "web" or link is not None)
        if role != "all" and not cluster and not split:
            raise ConfigError(
                f"the {role} role needs the cluster's queue: set PERSONAE_QUEUE=procrastinate "
                "and PERSONAE_DATABASE_URL to PostgreSQL (or run `personae up` alone)"
            )
        if cluster and not settings.resolved_database_url.startswith("postgresql"):
            raise ConfigError(
                "PERSONAE_QUEUE=procrastinate needs PostgreSQL, but PERSONAE_DATABASE_URL is "
                f"{settings.resolved_database_url.split(':')[0]}; set it to "
                "postgresql+asyncpg://user@host/db"
            )
        warm = warm and role != "web"
        # A CLI command beside a cluster (resume False) runs no jobs: the workers do.
        works = role != "web" and (resume or not cluster)
        private_dir(settings.home)
        configure_tracing(settings)
        if settings.endpoints is not None:  # a bad endpoints file stops start-up here
            endpoint_models(settings)
        progress(f"opening store {settings.resolved_database_url.split('://')[0]}")
        store = await SqlStore.open(settings.resolved_database_url)
        if link is not None and link.writes_there:  # SQLite: the server commits our writes
            store = SqlStore(ForwardedWrites(store.runner, link.write))
        engines = EnginePool(settings, progress)
        connections = connection_registry(store, settings)
        guards: tuple[Guard, ...] = ()
        try:
            guards = await build_guards(settings)
            await seed_personas(store, settings)
            if channels:
                await connections.load()
            if warm:
                await engines.for_model(None)
        except BaseException:
            for guard in guards:
                await guard.aclose()
            await engines.aclose()
            await store.aclose()
            raise
        sources = context_sources(settings, store)
        # Turns, sends and read receipts yield to requests under load (work/pressure.py).
        pressure = LoopPressure()
        pressure.start()
        work: WorkQueue
        events: EventSink
        cluster_queue: ClusterWorkQueue | None = None
        if cluster:  # jobs on PostgreSQL, events over LISTEN/NOTIFY (work/cluster.py)
            from personae.work.cluster import open_cluster

            cluster_queue, sink = await open_cluster(settings, store, listen=role != "worker")
            work, events = cluster_queue, MeteredEvents(sink)
        elif split and link is None:  # jobs run in a worker process; its events come here
            events = MeteredEvents(LocalEventHub())
            # On SQLite this process commits the worker's writes too (stores/forwarded.py).
            writes = None
            if isinstance(store.runner, SqliteRunner):
                writes = functools.partial(run_forwarded, store.runner)
            work = WorkerProcess(worker_command(), events, settings, writes=writes)
        else:  # the embedded queue and hub (in the worker process: events go up its link)
            work = LocalWorkQueue(store, [TURN, MEMORY], resume=resume, calm=pressure.calm)
            events = link if link is not None else MeteredEvents(LocalEventHub())
        commands = Commands()
        DataRights(
            store, settings.public_url, settings.export_link_ttl_s, settings.delete_confirm_s
        ).register(commands)
        memory = MemoryService(
            MemoryStore(store.runner),
            process_embedder(),
            top_k=settings.memory_top_k,
            budget_tokens=settings.memory_budget_tokens,
        )
        memory_work = MemoryWork(
            store, memory, work, run_here=resume, engines=engines.for_model,
            summary_every=settings.memory_summary_every,
        )  # fmt: skip
        MemoryCommands(memory).register(commands)
        if settings.memory:  # what the persona remembers is a context source like lore
            sources = [*sources, MemorySource(memory)]
        inbound_ref: list[Inbound] = []  # built below, once the turn runner exists
        media = FolderMediaStore(settings.home / "media", MediaLimits.of(settings))
        pictures = PersonaPictures(
            settings, media, avatar_policy(settings), lambda texts: load_minilm().embed(texts)
        )

        async def direct(route: ReplyRoute, text: str) -> None:
            channel = inbound_ref[0].channel(route.channel, route.connection)
            if channel is not None:
                await channel.send(route.chat_id, text)

        async def hear_first(
            message: StoredMessage, route: ReplyRoute, attachments: Sequence[Attachment]
        ) -> str:
            return await inbound_ref[0].hear_first(message, route, attachments)

        turns = TurnRunner(
            personas=store,
            inbox=store,
            turns=store,
            work=work,
            events=events,
            engines=engines.for_model,
            max_message_chars=settings.max_message_chars,
            max_messages=settings.max_messages,
            engine_timeout_s=settings.engine_timeout_s,
            outbox=split_planner(connections.specs),
            commands=commands,
            direct=direct,
            sources=sources,
            safety=safety_policy(settings, guards),
            after_turn=memory_work.after_turn if settings.memory else None,
            loads_models=works,
            busy=Busy(settings.busy_reply, settings.busy_retry_s),
            media=media,
            attachments=store,
            media_wait_s=settings.media_wait_s,
            pictures=pictures,
            picture_outbox=picture_items,
            hear_first=hear_first,
        )
        dispatch = None
        if cluster_queue is not None:
            lanes = cluster_queue

            async def dispatch(conversation_id: str) -> None:
                await lanes.submit_lane(DELIVER, conversation_id)

        voice = VoiceNotes(settings)  # hears voice notes and speaks replies, loaded on first use
        remote = (
            RemoteImages(settings.media_max_image_bytes) if settings.media_fetch_remote else None
        )
        video = VideoReplies(voice, avatar_policy(settings), KeptRenders(media, store), remote)
        deliveries = Deliveries(
            store, connections, settings, calm=pressure.calm, dispatch=dispatch, media=media,
            voice=voice, video=video,
        )  # fmt: skip

        async def process(job: Job) -> None:
            with job_context(job):  # its ids on every log line; its span when tracing
                if job.kind == MEMORY:
                    await memory_work.process(job)
                    return
                try:
                    await turns.process(job)
                finally:  # its outbox rows are committed: send them now, not at the next poll
                    deliveries.wake()

        # Built before any job runs: a resumed turn may need it to hear a voice note (hear_first).
        # Delivery statuses from webhooks update the outbox rows they report on.
        inbound = Inbound(
            settings, connections, turns, store, deliveries.record_status, pressure=pressure,
            media=media, voice=voice,
            hand_off=work.read_mark if isinstance(work, WorkerProcess) else None,
        )  # fmt: skip
        inbound_ref.append(inbound)
        if link is not None:  # read receipts handed over by the server go out from here
            link.on_read_mark(inbound.acknowledge)
        if cluster_queue is not None:
            cluster_queue.lanes[DELIVER] = deliveries.run_lane
            if works:

                async def process_then_deliver(job: Job) -> None:
                    await process(job)
                    if job.kind == TURN:  # its outbox rows are committed: a delivery job
                        await cluster_queue.submit_lane(DELIVER, job.conversation_id)

                await deliveries.start()
                await work.serve(process_then_deliver)
        else:
            if resume and works:  # the server delivers (its worker process, when split);
                await deliveries.start()  # a CLI command beside it leaves that to the server
            if link is not None:
                await link.attach(work.submit)
            await work.serve(process)
        # A worker has no web server: its figures get a port of their own.
        port = settings.metrics_port
        runs_jobs = works if cluster_queue is not None else resume and link is None
        stop_metrics = serve_metrics(port) if runs_jobs and port is not None else None
        return cls(
            settings=settings, store=store, engines=engines, turns=turns,
            connections=connections, work=work, events=events, inbound=inbound,
            pollers=Pollers(inbound), deliveries=deliveries, pressure=pressure,
            sources=sources, guards=guards, media=media, pictures=pictures,
            memory=memory, commands=commands, role=role, voice=voice, video=video,
            backlog=Backlog(store, settings.queue_max_depth) if cluster else None,
            stop_metrics=stop_metrics,
        )  # fmt: skip

    async def ready(self) -> dict[str, bool]:
        """What /readyz checks: the store and the queue answer, and where this process runs
        turns itself, its engines (a web node loads none: its work waits in the queue while
        the engines are down, and the person gets the "give me a moment" reply)."""
        checks = {"store": await self.store.ping()}
        if self.role != "web":
            checks["engines"] = await self.engines.reachable()
        ready = getattr(self.work, "ready", None)
        if ready is not None:
            checks["queue"] = await ready()
        sink = getattr(self.events, "inner", self.events)  # under the metrics wrapper
        listening = getattr(sink, "listening", None)
        if listening is not None and self.role != "worker":
            checks["events"] = listening.is_set()
        return checks

    def check_impersonation(self, persona: Persona, source: str) -> None:
        """Raises PersonaInvalid for a persona presenting as a real person without consent."""
        protected_names(self.settings).check(persona, source)

    @cached_property
    def avatars(self) -> AvatarPolicy:
        return avatar_policy(self.settings)

    def check_avatar(self, persona: Persona, source: str) -> None:
        """Raises PersonaInvalid when the persona's avatar is not one the server may use."""
        problem = self.avatars.problem(persona.avatar) if persona.avatar else None
        if problem is not None:
            hint = f"or copy the image into {self.settings.home / AVATARS}"
            raise PersonaInvalid(source, [Problem("avatar", problem, repr(persona.avatar), hint)])

    async def import_card(
        self, data: bytes, slug: str | None = None
    ) -> tuple[PersonaRecord, ImportedCard]:
        """Store a Character Card file (JSON, PNG, CHARX) as a persona with its card; a PNG's
        picture becomes the avatar. Bad input raises CardInvalid/PersonaInvalid, nothing
        written."""
        if len(data) > MAX_ARCHIVE_BYTES:
            raise CardInvalid(f"the card file is {len(data)} bytes; at most {MAX_ARCHIVE_BYTES}")
        imported = read_card(data, slug)
        persona = imported.persona
        if imported.record.image is not None:
            persona = _card_avatar(persona, imported.record.image, self.settings)
        return await self.store.import_card(persona, imported.record), imported

    async def export_card(self, slug: str, fmt: CardFormat, png: bool = False) -> bytes:
        """The persona as a card file: the card it came from, with what changed since."""
        persona = (await self.store.get_persona(slug, latest=True)).persona  # what is edited
        stored = await self.store.persona_card(slug)
        image = None
        avatar = Path(persona.avatar) if persona.avatar else None
        if png and avatar is not None and avatar.suffix.lower() == ".png" and avatar.is_file():
            image = avatar.read_bytes()
            image = image if image.startswith(SIGNATURE) else None
        return export_card(persona, stored, fmt, png, image)

    async def aclose(self) -> None:
        await self.pollers.aclose()  # nothing new is accepted from here on
        await self.work.aclose()  # running turns finish and are stored; queued ones stay recorded
        await self.turns.drain()
        # After the turns: a running turn may still be fetching its voice note with it.
        await self.inbound.aclose()
        await self.deliveries.aclose()
        close_events = getattr(self.events, "aclose", None)
        if close_events is not None:
            await close_events()
        for source in self.sources:  # a source's writes in flight (lore timers) land
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()
        await self.pressure.aclose()
        await self.engines.aclose()
        for guard in self.guards:
            await guard.aclose()
        await self.store.aclose()
        if self.stop_metrics is not None:
            await asyncio.to_thread(self.stop_metrics)


def up_role(settings: Settings, has_channels: bool = False) -> Role:
    """`personae up`'s role: "web" with a worker process of its own (work/relay.py) when
    PERSONAE_WORKER_PROCESS says so (`auto`: when there are channel connections, whose
    webhooks must be answered in milliseconds; a server for the APIs alone saves the second
    process's memory), unless the queue is the cluster's or the database lives in memory (a
    second process could not see it)."""
    url = settings.resolved_database_url
    in_memory = url.startswith("sqlite") and (":memory:" in url or "mode=memory" in url
                                              or url.rstrip("/").endswith(":"))  # fmt: skip
    wanted = settings.worker_process == "true" or (
        settings.worker_process == "auto" and has_channels
    )
    if wanted and settings.queue == "local" and not in_memory:
        return "web"
    return "all"


def worker_command() -> list[str]:
    """How the server starts its worker process: this interpreter, this package."""
    return [sys.executable, "-m", "personae.worker_process"]


def context_sources(settings: Settings, store: SqlStore) -> list[ContextSource]:
    """The registered context sources (built-in lore, plugins' memory or knowledge), built
    over this store, in registration order; the history is always added by the turn runner."""
    return [factory(settings, store) for factory in context_source_factories().values()]


def connection_registry(store: SqlStore, settings: Settings) -> Connections:
    """Connections from the channels file (PERSONAE_CHANNELS) and the store, checked against
    the stored personas (unpublished ones too) and resolved from the environment."""

    async def persona_slugs() -> list[str]:
        return [r.persona.id for r in await store.list_personas(include_unpublished=True)]

    return Connections(
        store, persona_slugs, settings.environment(), channel_specs(), settings.channels
    )


async def seed_personas(store: SqlStore, settings: Settings) -> None:
    """Add persona files that the store has never seen; stored (and deleted) ones are left
    alone, so edits made through the API survive a restart."""
    folders = []
    if settings.load_samples:
        folders.append(samples_dir())
    if settings.personas_dir is not None:
        folders.append(settings.personas_dir)
    for folder in folders:
        for persona in load_persona_dir(folder):
            protected_names(settings).check(persona, persona.id)
            if not await store.has_persona(persona.id):
                await store.put_persona(persona)


AVATARS = "avatars"


def protected_names(settings: Settings) -> ProtectedNames:
    return ProtectedNames.of(settings.protected_names, settings.protected_names_file)


async def build_guards(settings: Settings) -> tuple[Guard, ...]:
    """The guards PERSONAE_GUARDS names, in order, from the registered guard factories."""
    names = [n.strip() for n in settings.guards.split(",") if n.strip()]
    factories = guard_factories()
    built: list[Guard] = []
    for name in names:
        factory = factories.get(name)
        if factory is None:
            broken = broken_plugins().get(name)
            reason = f"its plugin failed to load ({broken})" if broken else "it is not registered"
            for guard in built:
                await guard.aclose()
            raise ConfigError(
                f"guard {name!r} in PERSONAE_GUARDS cannot be used: {reason}; installed guards: "
                f"{', '.join(sorted(factories)) or 'none'}"
            )
        built.append(await factory(settings))
    return tuple(built)


def safety_policy(settings: Settings, guards: tuple[Guard, ...]) -> SafetyPolicy:
    audiences: dict[str, Audience] = {}
    for entry in settings.channel_audiences.split(","):
        channel, _, audience = entry.partition("=")
        if not entry.strip():
            continue
        if audience.strip() not in ("general", "teen"):
            raise ConfigError(
                f"PERSONAE_CHANNEL_AUDIENCES entry {entry.strip()!r} must be channel=general "
                "or channel=teen, e.g. `telegram=teen`"
            )
        audiences[channel.strip()] = "teen" if audience.strip() == "teen" else "general"
    return SafetyPolicy(
        guards,
        disclosure_every=timedelta(hours=settings.disclosure_every_h),
        teen_break_every=timedelta(hours=settings.teen_break_every_h),
        channel_audiences=audiences,
        default_locale=settings.default_locale,
        hold_chars=settings.guard_hold_chars,
        repair_refusals=settings.guard_repair_refusals,
    )


def avatar_policy(settings: Settings) -> AvatarPolicy:
    """Avatar files may live where persona files do, or in the data folder."""
    roots = [settings.home, samples_dir()]
    if settings.personas_dir is not None:
        roots.append(settings.personas_dir)
    return AvatarPolicy.of(roots, settings.avatar_hosts)


def _card_avatar(persona: Persona, image: bytes, settings: Settings) -> Persona:
    """A card's PNG picture, saved as $PERSONAE_HOME/avatars/<persona id>.png."""
    folder = settings.home / AVATARS
    private_dir(settings.home)
    private_dir(folder)
    target = folder / f"{persona.id}.png"
    target.unlink(missing_ok=True)
    private_file(target)
    with open(target, "wb") as out:
        out.write(image)
    return persona.model_copy(update={"avatar": str(target.resolve())})


def adopt_avatar(persona: Persona, settings: Settings) -> Persona:
    """A local avatar file outside the data folder is copied to $PERSONAE_HOME/avatars as
    ``<persona id><suffix>``, so the server may serve it wherever the persona file was."""
    avatar = persona.avatar
    if not avatar or not Path(avatar).is_absolute():
        return persona
    source = Path(avatar).resolve()
    home = settings.home.resolve()
    if source.is_relative_to(home):
        return persona
    folder = settings.home / AVATARS
    private_dir(settings.home)
    private_dir(folder)
    target = folder / f"{persona.id}{source.suffix.lower()}"
    target.unlink(missing_ok=True)
    private_file(target)
    with open(target, "wb") as out:
        out.write(source.read_bytes())
    return persona.model_copy(update={"avatar": str(target.resolve())})
