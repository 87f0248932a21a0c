"""WebSocket peers for the tunnel tests (Debian's python3-websockets, 10.x or later).

  ws.py serve PORT              echo server (PORT 0: any; prints "ready PORT"); a text "close" makes it close (code 1000, reason "bye")
  ws.py run URL SCENARIO [N]    a client scenario; prints one JSON line with what it saw

Scenarios: echo (text, binary, a 1 MiB message), many N (N concurrent tunnels, 20 messages
each), idle SECONDS (opens, waits, reports whether the tunnel was closed), server-close,
client-close, client-abort (a reset instead of a close frame), hold N (sends N messages half a second apart, counting echoes, and says whether
and when the tunnel was closed under it).
  ws.py rogue PORT              answers every request with a 101 nobody asked for
"""
import asyncio, json, os, signal, socket, struct, sys, time

import websockets

# A test process may start us with SIGTERM blocked (its threads' mask is inherited): without
# this, `terminate()` left servers running after the tests.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})


async def echo(websocket, path=None):
    try:
        async for message in websocket:
            if message == "close":
                await websocket.close(code=1000, reason="bye")
                return
            await websocket.send(message)
    except websockets.ConnectionClosed:
        pass


async def serve(port):
    # A backlog for a thousand connects at once (asyncio's default is 100).
    async with websockets.serve(echo, "127.0.0.1", port, max_size=4 << 20, ping_interval=None, backlog=4096) as server:
        print("ready", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


async def rogue(port):
    """Answers every request with a 101 nobody asked for."""
    async def answer(reader, writer):
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n")
            await writer.drain()
    server = await asyncio.start_server(answer, "127.0.0.1", port)
    print("ready", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Future()


async def connect(url):
    return await websockets.connect(url, max_size=4 << 20, ping_interval=None, open_timeout=10)


async def run(url, scenario, arg):
    out = {"scenario": scenario}
    if scenario == "echo":
        ws = await connect(url)
        await ws.send("hello")
        out["text"] = await ws.recv()
        await ws.send(bytes(range(256)))
        out["binary_ok"] = await ws.recv() == bytes(range(256))
        big = os.urandom(1 << 20)  # incompressible: permessage-deflate cannot shrink it
        await ws.send(big)
        out["large_ok"] = await ws.recv() == big
        await ws.close()
        out["close_code"] = ws.close_code
    elif scenario == "many":
        n = int(arg)
        lost = 0
        sockets = await asyncio.gather(*(connect(url) for _ in range(n)))
        async def talk(i, ws):
            nonlocal lost
            for j in range(20):
                message = f"{i}:{j}"
                await ws.send(message)
                if await ws.recv() != message:
                    lost += 1
        await asyncio.gather(*(talk(i, ws) for i, ws in enumerate(sockets)))
        await asyncio.gather(*(ws.close() for ws in sockets))
        out["tunnels"] = n
        out["messages"] = n * 20
        out["lost"] = lost
    elif scenario == "idle":
        ws = await connect(url)
        await ws.send("x")
        await ws.recv()
        started = time.monotonic()
        try:
            await asyncio.wait_for(ws.recv(), timeout=float(arg) + 5)
            out["closed"] = False
        except websockets.ConnectionClosed:
            out["closed"] = True
        except asyncio.TimeoutError:
            out["closed"] = False
        out["after"] = round(time.monotonic() - started, 2)
    elif scenario == "server-close":
        ws = await connect(url)
        await ws.send("close")
        try:
            await ws.recv()
        except websockets.ConnectionClosed as closed:
            out["code"] = closed.rcvd.code if closed.rcvd else None
            out["reason"] = closed.rcvd.reason if closed.rcvd else None
    elif scenario == "client-close":
        ws = await connect(url)
        await ws.send("x")
        await ws.recv()
        await ws.close(code=1000, reason="done")
        out["close_code"] = ws.close_code
    elif scenario == "client-abort":
        ws = await connect(url)
        await ws.send("x")
        out["echo"] = await ws.recv()
        # A reset, no close frame: the client vanished (SO_LINGER 0 makes the close a RST).
        ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.transport.abort()
    elif scenario == "hold":
        ws = await connect(url)
        echoed = 0
        out["closed"] = False
        started = time.monotonic()
        try:
            for i in range(int(arg)):
                await ws.send(f"m{i}")
                if await ws.recv() == f"m{i}":
                    echoed += 1
                await asyncio.sleep(0.5)
            await ws.close()
        except (websockets.ConnectionClosed, OSError, EOFError) as ended:
            # Closed under it (a close frame, a FIN or a reset, whichever the timing gives).
            out["closed"] = True
            out["how"] = type(ended).__name__
        out["echoed"] = echoed
        out["after"] = round(time.monotonic() - started, 2)
    print(json.dumps(out), flush=True)


def main():
    if sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2])))
    elif sys.argv[1] == "rogue":
        asyncio.run(rogue(int(sys.argv[2])))
    else:
        try:
            asyncio.run(run(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
        except websockets.InvalidStatusCode as refused:
            print(json.dumps({"scenario": sys.argv[3], "refused": refused.status_code}), flush=True)


main()
