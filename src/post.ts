// Entry of dist/post.
import { runPost } from './teardown.ts'

await runPost()
