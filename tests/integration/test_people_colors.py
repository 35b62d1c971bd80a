"""People who do not choose a colour get one nobody else online wears."""

from __future__ import annotations

from contextlib import AsyncExitStack

from backline.client import connect
from backline.protocol.messages import PEOPLE_COLORS
from backline.testing import ServerProcess

SESSION = "colours"


async def test_every_joiner_without_a_colour_gets_a_free_one(server: ServerProcess) -> None:
    token = server.token(SESSION, "editor")
    async with AsyncExitStack() as stack:
        chosen = await stack.enter_async_context(
            connect(server.url, session=SESSION, token=token, name="picky", color=PEOPLE_COLORS[3])
        )
        people = [
            await stack.enter_async_context(
                connect(server.url, session=SESSION, token=token, name=f"p{i}")
            )
            for i in range(len(PEOPLE_COLORS) - 1)
        ]
        colors = [chosen.color, *(p.color for p in people)]
        assert chosen.color == PEOPLE_COLORS[3]  # a choice is kept
        assert sorted(colors) == sorted(PEOPLE_COLORS)  # eight people, eight colours
        freed = people[2].color
        await people[2].close()
        late = await stack.enter_async_context(
            connect(server.url, session=SESSION, token=token, name="late")
        )
        assert late.color == freed  # the one colour that nobody wears now
        seen = {p["name"]: p["color"] for p in late.peers.values()}  # as others see them
        assert seen == {
            "picky": chosen.color,
            **{f"p{i}": p.color for i, p in enumerate(people) if i != 2},
        }
