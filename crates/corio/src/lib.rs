//! corio: the asyncio-style facade (being built in issues 6 and 7).
