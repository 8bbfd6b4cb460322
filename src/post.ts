// Entry of dist/post.
import { runPost } from './cleanup.ts'

await runPost()
