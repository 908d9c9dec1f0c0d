# The gateway image. Regions are real Qdrant servers (see deploy/compose.yaml).
# The read path is compiled with mypyc (setup.py): built where a C compiler is, installed without one.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md compiled-modules.txt ./
COPY rgw ./rgw
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 rgw \
 && mkdir -p /var/lib/rgw && chown rgw /var/lib/rgw
WORKDIR /opt/rgw
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels /root/.cache

USER rgw
EXPOSE 6333
# /readyz answers once the gateway serves; the listen address comes from the config (6333 by default).
HEALTHCHECK --interval=10s --timeout=2s --start-period=10s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:6333/readyz', timeout=2).status != 200)"
ENTRYPOINT ["rgw"]
CMD ["serve", "--config", "/etc/rgw/gateway.toml"]
