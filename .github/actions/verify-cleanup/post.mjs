// The check itself is a script e2e.yml and the local end-to-end suite share.
import '../../scripts/check-cleanup.mjs'
