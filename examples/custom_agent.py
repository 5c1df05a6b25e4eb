"""Bring your own agent: anything with act / answer / sleep follows the ``sleep_env.Agent`` protocol.

This one needs no model. Awake, it reads answers from its context (the short-term memory). Asleep, it
copies the context into a notebook of limited size (its long-term memory), dropping the oldest notes
when full, so it forgets. Closed-book probes are answered from the notebook. ``state_dict`` /
``load_state_dict`` make it checkpointable (``sleep-env run --resume`` uses them for the built-in agents).

    python examples/custom_agent.py
"""

from evaluation.metrics import availability, summarize
from sleep_env import EnvConfig, ExperienceConfig, FixedInterval, Never, SleepEnv, SleepReport, StreamConfig, run_lifetime


class NotebookAgent:
    def __init__(self, capacity: int = 8):
        self.capacity = capacity  # notes kept in long-term memory
        self.notebook: list[str] = []

    @staticmethod
    def _lookup(prompt: str, lines: list[str]) -> str:
        stem = prompt.rsplit("Answer:", 1)[-1].strip()  # e.g. "Vanzem Paswick lives in"
        for line in reversed(lines):
            if stem and line.startswith(stem):
                return line[len(stem):].strip().rstrip(".")
        return ""  # a wrong or empty answer scores 0; it never raises

    def act(self, obs: dict) -> dict:
        answer = self._lookup(obs["prompt"], obs["context"].split("\n")) if int(obs["kind"]) == 1 else ""
        return {"response": answer, "sleep": int(obs["may_sleep"])}  # sleep whenever allowed

    def answer(self, prompts: list[str], contexts: list[str]) -> list[str]:
        return [self._lookup(p, c.split("\n") if c else self.notebook) for p, c in zip(prompts, contexts)]

    def sleep(self, window) -> SleepReport:
        # study items are facts; a query with feedback reads "Question: ...\nAnswer: <fact>"
        facts = list(dict.fromkeys(m.rsplit("Answer: ", 1)[-1].rstrip(".") for m in window.memories))
        self.notebook = (self.notebook + [f for f in facts if f not in self.notebook])[-self.capacity:]
        return SleepReport(seconds=0.0, steps=len(facts), metrics={"notes": float(len(self.notebook))})

    def state_dict(self) -> dict:
        return {"notebook": list(self.notebook)}

    def load_state_dict(self, state: dict) -> None:
        self.notebook = list(state["notebook"])


facts = ExperienceConfig(task="facts", n_study=4, n_query=4)
stream = StreamConfig(experiences=(facts,) * 3)
for schedule in (Never(), FixedInterval(period=8)):
    env = SleepEnv(EnvConfig(stream=stream, schedule=schedule, context_chars=1000))
    record = run_lifetime(env, NotebookAgent(capacity=8), seed=0)
    m = summarize(record.accuracy_matrix, record.baseline)
    print(f"{type(schedule).__name__:13s} sleeps={record.sleeps} ACC={m['acc']:.2f} forgetting={m['forgetting']:.2f} "
          f"BWT={m['bwt']:+.2f} availability={availability(record.steps):.2f}")
    print("  R =", record.accuracy_matrix.round(2).tolist())
