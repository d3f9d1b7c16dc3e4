"""``symws bench``: being written."""


def bench_command(repeats: int = 5, quick: bool = False, json_path: str | None = None
                  ) -> int:
    raise NotImplementedError("symws bench is being written")
