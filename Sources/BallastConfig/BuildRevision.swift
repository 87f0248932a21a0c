// scripts/release replaces "dev" with the commit for the duration of a release build.
let buildRevision = "dev"
