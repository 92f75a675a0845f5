# One image for every process of the service; docker-compose picks the command
# (`perpetua writeapi`, `perpetua readapi`, `perpetua projector`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# README.md is part of the package metadata (pyproject's `readme`).
COPY pyproject.toml README.md ./
COPY aggregates ./aggregates
COPY commands ./commands
COPY projections ./projections
COPY projectors ./projectors
COPY writeapi ./writeapi
COPY readapi ./readapi
COPY infra ./infra
COPY perpetua ./perpetua
RUN pip install .

# No shell, no home, fixed uid: mount ./keys readable by uid 10001 (see README).
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin perpetua
USER perpetua

# Containers talk to a real PostgreSQL (DATABASE_URL), never the embedded one, and run
# in prod mode unless told otherwise.
ENV PERPETUA_ENV=prod \
    PERPETUA_DATA_DIR=/tmp/perpetua

EXPOSE 8000 8001
ENTRYPOINT ["perpetua"]
CMD ["--help"]
