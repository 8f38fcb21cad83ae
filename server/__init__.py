"""The Litestar server (upload, SQL, similarity search, curation UI). Not built yet: see the
open issue 'The curation server'."""
