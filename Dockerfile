# The example binaries (pingpong, wal, kv, election, bank) in a small
# image, for sharded sweeps on Kubernetes (deploy/k8s/sweep-job.yaml):
#   docker build -t moonpool-examples:latest .
#   docker run --rm moonpool-examples:latest kv sim --seeds 1000 --jobs 4
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p moonpool-examples --bins \
 && mkdir /out \
 && cp target/release/pingpong target/release/wal target/release/kv \
       target/release/election target/release/bank /out/

FROM debian:bookworm-slim
COPY --from=build /out/ /usr/local/bin/
# Progress lines every few seconds in `kubectl logs`; the report on stdout.
CMD ["kv", "sim", "--help"]
