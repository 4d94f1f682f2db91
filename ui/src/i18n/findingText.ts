// The rule-based findings' suggestions and evidence notes, by message code (Finding.suggestion_code and
// note_code; parameters in Finding.params). English: exactly the server's templates (pystrument/ai/messages.py,
// copied to tests/fixtures/finding-messages.json; tests/findingText.spec.ts compares them).
export const findingTextEn = {
  suggest: {
    async_blocking: {
      cpu: 'Run it off the event loop: `await asyncio.to_thread(fn, ...)` for work that releases the GIL, `await loop.run_in_executor(process_pool, fn, ...)` for pure-Python CPU work, or make it cheaper; if it must stay, split it and `await asyncio.sleep(0)` between chunks.',
      io: {
        db: 'Use an async driver (aiosqlite, asyncpg, motor, redis.asyncio) or run the query in a thread with `await asyncio.to_thread(...)`.',
        file: 'Read/write files with `await asyncio.to_thread(...)` (or aiofiles).',
        lock: 'Use an `asyncio.Lock`, or move the locked work to a thread.',
        network: 'Use an async client (httpx.AsyncClient, aiohttp) or `await asyncio.to_thread(...)`.',
        sleep: 'Use `await asyncio.sleep(...)` instead of `time.sleep(...)`.',
        subprocess: 'Use `asyncio.create_subprocess_exec(...)`.',
      },
    },
    costly: {
      deepcopy: 'Avoid deep copies in loops: copy once outside the loop, copy only what you change (a shallow `dict(x)` / `list(x)`), or keep shared data immutable (tuples, frozen dataclasses, MappingProxyType).',
      import: 'Move the import to module level (or warm it up at startup) so no request pays for it; an import inside a function runs the module\'s top-level code the first time, in every worker process.',
      json_decode: 'Decode once and keep the result, decode only the part you need, or use msgspec.json / orjson (with a typed schema msgspec also validates in the same pass).',
      json_encode: 'Encode the object once and reuse the bytes (cache them until the data changes), send less data, or use a faster encoder (msgspec.json / orjson, typically 5-10x faster than the json module).',
      regex_compile: 'Compile each pattern once at module level (`PATTERN = re.compile(...)`) and reuse it; for many words build one alternation pattern. `re`\'s own cache holds only a few hundred patterns, so patterns built from data are recompiled on every call.',
    },
    hot_path: {
      callee: 'Most of this time is in `{callee}`, called from here: call it less often (batch, cache the result, hoist it out of loops) or give it less data.',
      list_membership: '`in` tests on the list {lists} inside a loop cost O(n) each, O(n^2) in all: keep a set (or a dict) beside it for membership tests.',
      own_code: 'The time is in this function\'s own Python code: look for loops over large collections, membership tests on lists (use a set or dict), repeated work that could be done once or cached, or move the computation out of the request.',
      sort_in_loop: 'Sorting inside a loop: sort once after the loop, or keep the data ordered (bisect, heapq).',
    },
    regressed: {
      callees: 'Compare {function} between the two versions: the change that added {delta_ms} ms is in it or in what it calls; here its time goes to {callees}.',
      compare: 'Compare {function} between the two versions: the change that added {delta_ms} ms is in it or in what it calls.',
    },
    repeated: {
      db: 'Fetch the rows in one query (`WHERE id IN (...)`, a JOIN, the ORM\'s select_related / prefetch_related / selectinload) instead of one query per item, or load them once per request and look them up in a dict.',
      file: 'Read the files once (or one combined file) and keep the content in memory instead of per item.',
      network: 'Batch the calls (one bulk request), run them concurrently, or cache the responses; reuse one session so connections are pooled.',
    },
  },
  note: {
    async_blocking: {
      loop_blocked: 'the event loop serves nothing else meanwhile; the saving is loop time freed for other requests',
      no_await: 'up to this long without giving control back to the event loop',
    },
    costly: {
      import_once: 'paid on the first call in every worker process (and on every call after a reload)',
    },
    hot_path: {
      busy_host: 'the thread ran on a CPU for only part of this time (the host was busy): cost_ms is the code\'s time scaled to the unit\'s CPU time, and sets the severity and saving',
    },
  },
}

export const findingTextZh: typeof findingTextEn = {
  suggest: {
    async_blocking: {
      cpu: '让它离开事件循环：释放 GIL 的工作用 `await asyncio.to_thread(fn, ...)`，纯 Python 的 CPU 工作用 `await loop.run_in_executor(process_pool, fn, ...)`，或者让它更省；如果必须留下，就把它切成小块，块与块之间 `await asyncio.sleep(0)`。',
      io: {
        db: '使用异步驱动（aiosqlite、asyncpg、motor、redis.asyncio），或用 `await asyncio.to_thread(...)` 在线程中执行查询。',
        file: '用 `await asyncio.to_thread(...)`（或 aiofiles）读写文件。',
        lock: '使用 `asyncio.Lock`，或把加锁的工作移到线程中。',
        network: '使用异步客户端（httpx.AsyncClient、aiohttp），或 `await asyncio.to_thread(...)`。',
        sleep: '用 `await asyncio.sleep(...)` 代替 `time.sleep(...)`。',
        subprocess: '使用 `asyncio.create_subprocess_exec(...)`。',
      },
    },
    costly: {
      deepcopy: '避免在循环中深拷贝：在循环外拷贝一次，只拷贝要修改的部分（浅拷贝 `dict(x)` / `list(x)`），或让共享数据保持不可变（元组、frozen dataclass、MappingProxyType）。',
      import: '把 import 移到模块顶层（或在启动时预热），让任何请求都不必为它付出代价；函数内的 import 在每个 worker 进程中第一次执行时会运行模块的顶层代码。',
      json_decode: '解码一次并保留结果，只解码需要的部分，或使用 msgspec.json / orjson（配合类型化的 schema，msgspec 在同一遍中完成校验）。',
      json_encode: '对象只编码一次并复用字节（在数据变化前缓存），发送更少的数据，或使用更快的编码器（msgspec.json / orjson，通常比 json 模块快 5-10 倍）。',
      regex_compile: '每个模式在模块级编译一次（`PATTERN = re.compile(...)`）并复用；词很多时合成一个选择模式。`re` 自带的缓存只能容纳几百个模式，由数据构造的模式每次调用都会重新编译。',
    },
    hot_path: {
      callee: '这段时间大多花在从这里调用的 `{callee}` 中：少调用它（批量处理、缓存结果、移出循环），或者给它更少的数据。',
      list_membership: '在循环中对列表 {lists} 做 `in` 判断，每次 O(n)，总共 O(n^2)：在旁边维护一个 set（或 dict）专用于成员判断。',
      own_code: '时间花在这个函数自身的 Python 代码上：检查对大集合的循环、对列表的成员判断（改用 set 或 dict）、可以只做一次或缓存的重复工作，或把计算移出请求。',
      sort_in_loop: '在循环中排序：在循环结束后排序一次，或让数据保持有序（bisect、heapq）。',
    },
    regressed: {
      callees: '在两个版本之间比较 {function}：增加了 {delta_ms} ms 的改动在它或它调用的代码里；在这里它的时间花在 {callees}。',
      compare: '在两个版本之间比较 {function}：增加了 {delta_ms} ms 的改动在它或它调用的代码里。',
    },
    repeated: {
      db: '用一次查询取回这些行（`WHERE id IN (...)`、JOIN、ORM 的 select_related / prefetch_related / selectinload），而不是每个条目查询一次；或者每个请求加载一次，再用 dict 查找。',
      file: '只读取一次这些文件（或合并成一个文件），把内容保存在内存中，而不是每个条目读一次。',
      network: '批量调用（一次批量请求）、并发执行，或缓存响应；复用同一个会话以便连接池化。',
    },
  },
  note: {
    async_blocking: {
      loop_blocked: '这段时间里事件循环无法处理其他任何事情；节省的是为其他请求腾出的事件循环时间',
      no_await: '最长这么久没有把控制权交还给事件循环',
    },
    costly: {
      import_once: '在每个 worker 进程的第一次调用时付出（重新加载后每次调用都会付出）',
    },
    hot_path: {
      busy_host: '这段时间里线程只有一部分在 CPU 上运行（主机繁忙）：cost_ms 是按该单元的 CPU 时间折算后的代码耗时，严重程度和节省量按它计算',
    },
  },
}
