#!/usr/bin/env bash
# prepare-java.sh: what the java step of benchmarks/gpu-check.sh needs and the GPU machine lacks (it has no JDK): a
# small jlink'd Java runtime in build/jre and the engine's jar (reasonir-core, with libreasonir.so built here with the
# CUDA backend), the CLI module's thin jar (dev.reasonir.tools.GpuSmoke) and their runtime dependencies in
# build/gpu-java/. Run it on the build machine, then carry both folders:
#   run(command="bash benchmarks/gpu-check.sh", carry=["build/jre", "build/gpu-java"])
# Token-id input needs no tokenizer, so DJL (and its native libraries) stays behind. Prints the sizes (the carry limit
# is 64 MiB in all).
set -euo pipefail
cd "$(dirname "$0")/../.."
mvn -B -ntp -q -pl cli -am package -DskipTests
rm -rf build/gpu-java build/jre
mkdir -p build/gpu-java
cp core/target/reasonir-core.jar build/gpu-java/
cp cli/target/reasonir-cli-*-SNAPSHOT.jar build/gpu-java/
mvn -B -ntp -q -pl cli org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeArtifactIds=javacpp,jackson-databind,jackson-core,jackson-annotations \
    -DoutputDirectory="$PWD/build/gpu-java"
# Modules the jars need (jdeps), plus jdk.unsupported for JavaCPP's Unsafe use.
mods="$(jdeps --multi-release 17 --ignore-missing-deps --print-module-deps build/gpu-java/*.jar),jdk.unsupported"
jlink --add-modules "$mods" --strip-debug --no-man-pages --no-header-files --compress=2 --output build/jre
build/jre/bin/java -version 2>&1 | head -n 1
du -sh build/jre build/gpu-java
