console.log('armed: the post step checks the cleanup')
