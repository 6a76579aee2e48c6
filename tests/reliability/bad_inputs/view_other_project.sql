SELECT * FROM `other-project.secret.people`
