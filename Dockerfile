# syntax=docker/dockerfile:1
# Multi-stage image of the lakehouse: dependencies from the committed uv.lock, a non-root
# user, and the data root as a volume. Build: docker build -t saas-lakehouse .

FROM python:3.11-slim-bookworm AS build
ENV UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-install-project --no-dev
# The library's five layers (ADR 0012), then the dbt project and the notebooks.
COPY lakecore ./lakecore
COPY ingestion ./ingestion
COPY transform ./transform
COPY analytics ./analytics
COPY saaslake ./saaslake
COPY dbt ./dbt
COPY notebooks ./notebooks
RUN uv sync --locked --no-dev

FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 lakehouse \
    && useradd --system --uid 10001 --gid lakehouse --create-home lakehouse
WORKDIR /app
COPY --from=build --chown=lakehouse:lakehouse /app /app
ENV PATH="/app/.venv/bin:${PATH}" \
    LAKEHOUSE_ROOT=/data \
    PYTHONUNBUFFERED=1
RUN mkdir -p /data && chown lakehouse:lakehouse /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 2718
ENTRYPOINT ["lakehouse"]
CMD ["status"]
