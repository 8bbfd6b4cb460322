// Entry of dist/post.
import { runPost } from './phases/teardown.ts'

await runPost()
